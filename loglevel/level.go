package loglevel

import "bytes"

// Level is what a line counts as.
type Level int8

// The levels a line counts as.
const (
	None Level = iota
	Warning
	Error
)

// HeaderBytes is how far into a line its level word may be: far enough
// for a timestamp, a process id and Scrapy's "[logger.name]", near enough
// that a message quoting a level later on does not count.
const HeaderBytes = 120

// levelWords are the upper-case words that give a line its level; the
// first one in a line's header decides.
var levelWords = map[string]Level{
	"TRACE": None, "DEBUG": None, "INFO": None, "NOTICE": None,
	"WARN": Warning, "WARNING": Warning,
	"ERROR": Error, "CRITICAL": Error, "FATAL": Error,
}

// wordLevel returns the level of the first level word in line's header,
// and whether there is one.
func wordLevel(line []byte) (Level, bool) {
	h := line[:min(len(line), HeaderBytes)]
	for i := 0; i < len(h); {
		c := h[i]
		if c < 'A' || c > 'Z' {
			i++
			continue
		}
		j := i + 1
		for j < len(h) && (h[j] >= 'A' && h[j] <= 'Z') {
			j++
		}
		if j-i >= 4 && j-i <= 8 && (i == 0 || sepBefore(h[i-1])) && (j == len(line) || j < len(h) && sepAfter(h[j])) {
			if l, ok := levelWords[string(h[i:j])]; ok {
				return l, true
			}
		}
		// Skip the rest of this word (letters, digits): "ERRORS", "aERROR".
		for j < len(h) && isWordByte(h[j]) {
			j++
		}
		i = j
	}
	return keyValueLevel(h)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func sepBefore(c byte) bool {
	switch c {
	case ' ', '\t', '[', ']', '(', ')', '|', ':', ',', '=', '"', '-', '<':
		return true
	}
	return false
}

func sepAfter(c byte) bool {
	switch c {
	case ' ', '\t', '[', ']', '(', ')', '|', ':', ',', '"', '-', '.', '>':
		return true
	}
	return false
}

var (
	levelKey     = []byte("level=")
	jsonLevelKey = []byte(`"level":`)
)

// keyValueLevel finds level=<word> or "level":"<word>" (any case) in h.
func keyValueLevel(h []byte) (Level, bool) {
	for _, key := range [][]byte{levelKey, jsonLevelKey} {
		i := bytes.Index(h, key)
		if i < 0 || i > 0 && isWordByte(h[i-1]) {
			continue
		}
		v := h[i+len(key):]
		v = bytes.TrimLeft(v, ` "`)
		end := 0
		for end < len(v) && (v[end] >= 'a' && v[end] <= 'z' || v[end] >= 'A' && v[end] <= 'Z') {
			end++
		}
		if l, ok := levelWords[string(bytes.ToUpper(v[:end]))]; ok {
			return l, true
		}
	}
	return None, false
}
