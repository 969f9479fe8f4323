package loglevel

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseStats parses the Python dict literal Scrapy prints after "Dumping
// Scrapy stats:" (pprint of its stats). Keys are strings; a value is kept
// as a number (float64), a string, a boolean or nil (None); a
// datetime.datetime(…) becomes its ISO 8601 text ("Z" when its tzinfo is
// UTC); anything else (a list, a nested dict, another call) is kept as its
// Python text, so the result stays flat and stores the same everywhere.
func ParseStats(b []byte) (map[string]any, error) {
	p := &pyParser{s: string(b)}
	p.space()
	if !p.eat('{') {
		return nil, errors.New("loglevel: stats: not a dict")
	}
	out := map[string]any{}
	for {
		p.space()
		if p.eat('}') {
			return out, nil
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if !p.eat(':') {
			return nil, fmt.Errorf("loglevel: stats: no ':' after key %q", k)
		}
		p.space()
		v, err := p.value()
		if err != nil {
			return nil, fmt.Errorf("loglevel: stats: key %q: %w", k, err)
		}
		out[k] = v
		p.space()
		if !p.eat(',') {
			p.space()
			if !p.eat('}') {
				return nil, fmt.Errorf("loglevel: stats: no ',' or '}' after key %q", k)
			}
			return out, nil
		}
	}
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a quoted string, with Python's common escapes; adjacent
// literals (pprint splits long strings) are joined.
func (p *pyParser) str() (string, error) {
	var sb strings.Builder
	for n := 0; ; n++ {
		if p.i >= len(p.s) || p.s[p.i] != '\'' && p.s[p.i] != '"' {
			if n == 0 {
				return "", errors.New("expected a string")
			}
			return sb.String(), nil
		}
		q := p.s[p.i]
		p.i++
		for {
			if p.i >= len(p.s) {
				return "", errors.New("unterminated string")
			}
			c := p.s[p.i]
			p.i++
			if c == q {
				break
			}
			if c != '\\' || p.i >= len(p.s) {
				sb.WriteByte(c)
				continue
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				sb.WriteByte('\n')
			case 't':
				sb.WriteByte('\t')
			case 'r':
				sb.WriteByte('\r')
			case 'x':
				if p.i+2 <= len(p.s) {
					if v, err := strconv.ParseUint(p.s[p.i:p.i+2], 16, 8); err == nil {
						sb.WriteRune(rune(v))
						p.i += 2
						continue
					}
				}
				sb.WriteString(`\x`)
			default:
				sb.WriteByte(e) // \\ \' \" and anything else as itself
			}
		}
		save := p.i
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != '\'' && p.s[p.i] != '"' {
			p.i = save
			return sb.String(), nil
		}
	}
}

func (p *pyParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, errors.New("expected a value")
	}
	switch c := p.s[p.i]; {
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		start := p.i
		p.i++
		for p.i < len(p.s) && strings.IndexByte("0123456789.eE+-_", p.s[p.i]) >= 0 {
			p.i++
		}
		f, err := strconv.ParseFloat(strings.ReplaceAll(p.s[start:p.i], "_", ""), 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", p.s[start:p.i])
		}
		return f, nil
	case c == '{' || c == '[' || c == '(':
		return p.raw()
	}
	// A name: True, False, None, or a call such as datetime.datetime(…).
	start := p.i
	for p.i < len(p.s) && (isWordByte(p.s[p.i]) || p.s[p.i] == '.') {
		p.i++
	}
	name := p.s[start:p.i]
	switch name {
	case "":
		return nil, fmt.Errorf("unexpected %q", p.s[p.i])
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		return name, nil
	}
	args, err := p.raw()
	if err != nil {
		return nil, err
	}
	if name == "datetime.datetime" {
		if t, ok := isoTime(args.(string)); ok {
			return t, nil
		}
	}
	return name + args.(string), nil
}

// raw returns the text of a bracketed value, brackets included.
func (p *pyParser) raw() (any, error) {
	start := p.i
	depth := 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\'', '"':
			if _, err := p.str(); err != nil {
				return nil, err
			}
			continue
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		}
		p.i++
		if depth == 0 {
			return p.s[start:p.i], nil
		}
	}
	return nil, errors.New("unclosed bracket")
}

// isoTime turns the arguments of datetime.datetime — "(2026, 12, 3, 22,
// 42, 7, 123456, tzinfo=datetime.timezone.utc)" — into ISO 8601 text.
func isoTime(args string) (string, bool) {
	args = strings.TrimSuffix(strings.TrimPrefix(args, "("), ")")
	var n []int
	utc := false
	for _, a := range strings.Split(args, ",") {
		a = strings.TrimSpace(a)
		if v, ok := strings.CutPrefix(a, "tzinfo="); ok {
			utc = v == "datetime.timezone.utc"
			continue
		}
		x, err := strconv.Atoi(a)
		if err != nil {
			return "", false
		}
		n = append(n, x)
	}
	if len(n) < 3 || len(n) > 7 {
		return "", false
	}
	for len(n) < 7 {
		n = append(n, 0)
	}
	s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", n[0], n[1], n[2], n[3], n[4], n[5])
	if n[6] != 0 {
		s += fmt.Sprintf(".%06d", n[6])
	}
	if utc {
		s += "Z"
	}
	return s, true
}
