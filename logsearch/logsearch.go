// Package logsearch is the one home of a log search: what a query means,
// how lines match, how matches are counted and paged. The agent runs it
// over a running task's file, a master over an ended task's stored log;
// both hand Run a scan of the log from its first line, and both answer
// with the same wire.LogSearch.
//
// A search reads the whole log every time: Count is the matches in all of
// it, and a level ("error", "warning") needs every line before a match to
// know what it counts as (a traceback after an ERROR line is part of it).
// It keeps only one page of matches, so memory does not grow with the log.
package logsearch

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/loglevel"
	"github.com/crawlhub/crawlhub/wire"
)

// Limits of a query and of its result.
const (
	// MaxQuery bounds a query's bytes, a regular expression's too: RE2
	// matches in linear time, but its program grows with the pattern.
	MaxQuery = 1000
	// DefaultLimit and MaxLimit are a page of matches: a limit of zero or
	// less is DefaultLimit, more than MaxLimit is MaxLimit (the same page
	// sizes as every list of the API).
	DefaultLimit = 50
	MaxLimit     = 1000
	// MaxText bounds a match's text: a longer line is cut at a rune
	// boundary and marked Cut. With MaxLimit matches, a reply stays under
	// wire.MaxReadBytes even when JSON escapes every byte (6 bytes each).
	MaxText = 500
)

// ErrBadQuery is a query that cannot run: empty, too long, a bad regular
// expression or an unknown level. Its text says what to change.
var ErrBadQuery = errors.New("bad log search")

// Levels a search may keep.
const (
	LevelError   = "error"
	LevelWarning = "warning"
)

// Search is a compiled query.
type Search struct {
	q     wire.SearchLog
	match func(line string) bool // nil: every line (a level alone)
	level loglevel.Level
}

// Compile checks q and prepares its matcher; an error wraps ErrBadQuery.
func Compile(q wire.SearchLog) (*Search, error) {
	s := &Search{q: q}
	switch q.Level {
	case "":
	case LevelError:
		s.level = loglevel.Error
	case LevelWarning:
		s.level = loglevel.Warning
	default:
		return nil, fmt.Errorf("%w: level %q is not one of error, warning", ErrBadQuery, q.Level)
	}
	switch {
	case q.Q == "" && q.Level == "":
		return nil, fmt.Errorf("%w: say what to look for: q (text, or a regular expression with regex=true) or level=error|warning", ErrBadQuery)
	case len(q.Q) > MaxQuery:
		return nil, fmt.Errorf("%w: q has %d bytes; at most %d", ErrBadQuery, len(q.Q), MaxQuery)
	case q.From < 0:
		return nil, fmt.Errorf("%w: from must be a line number ≥ 0", ErrBadQuery)
	case q.Q == "":
	case q.Regex:
		// As written: (?i) makes it ignore case. (Adding it for the user
		// would make every regular expression several times slower.)
		re, err := regexp.Compile(q.Q)
		if err != nil {
			return nil, fmt.Errorf("%w: q is not a valid regular expression (RE2 syntax): %v", ErrBadQuery, err)
		}
		s.match = re.MatchString
		parsed, _ := syntax.Parse(q.Q, syntax.Perl) // it compiled, so it parses
		if lits := literals(parsed); lits != nil {
			s.match = func(line string) bool { return maybe(line, lits) && re.MatchString(line) }
		}
	case q.Case:
		s.match = func(line string) bool { return strings.Contains(line, q.Q) }
	case isASCII(q.Q):
		needle := strings.ToLower(q.Q)
		s.match = func(line string) bool { return containsFoldASCII(line, needle) }
	default:
		re := regexp.MustCompile("(?i)" + regexp.QuoteMeta(q.Q))
		s.match = re.MatchString
	}
	s.q.Limit = limit(q.Limit)
	return s, nil
}

func limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// Run searches the log that scan reads: scan must call its fn with every
// line from line 0 on, in order, until fn returns false, and return the
// scan's error. Run stops it only if the scan fails.
func (s *Search) Run(scan func(fn func(n int64, line string) bool) error) (wire.LogSearch, error) {
	out := wire.LogSearch{TaskID: s.q.TaskID, Matches: []wire.LogMatch{}, Next: -1}
	var levels loglevel.Counter
	lineBuf := []byte(nil)
	err := scan(func(n int64, line string) bool {
		out.Total = n + 1
		if s.level != loglevel.None {
			// The counter reads every line, in order, as the agent did.
			lineBuf = append(lineBuf[:0], line...)
			if levels.Line(lineBuf) != s.level {
				return true
			}
		}
		if s.match != nil && !s.match(line) {
			return true
		}
		out.Count++
		switch {
		case n < s.q.From:
		case len(out.Matches) < s.q.Limit:
			out.Matches = append(out.Matches, match(n, line))
		case out.Next < 0:
			out.Next = n // the first match of the next page
		}
		return true
	})
	return out, err
}

func match(n int64, line string) wire.LogMatch {
	if len(line) <= MaxText {
		return wire.LogMatch{Line: n, Text: line}
	}
	cut := MaxText
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return wire.LogMatch{Line: n, Text: line[:cut], Cut: true}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// containsFoldASCII reports whether s contains needle (lower-case ASCII)
// ignoring ASCII case: a search's hot loop, without allocating. The next
// place each case of the first byte occurs is looked up once and kept
// until passed, so a line costs a few passes whatever it holds.
func containsFoldASCII(s, needle string) bool {
	n := len(needle)
	if n == 0 {
		return true
	}
	if len(s) < n {
		return false
	}
	last := len(s) - n // the last place a match can start
	lo, up := needle[0], needle[0]
	if 'a' <= lo && lo <= 'z' {
		up -= 'a' - 'A'
	}
	next := func(c byte, from int) int {
		if from > last {
			return -1
		}
		if j := strings.IndexByte(s[from:last+1], c); j >= 0 {
			return from + j
		}
		return -1
	}
	nl, nu := next(lo, 0), -1
	if up != lo {
		nu = next(up, 0)
	}
	for nl >= 0 || nu >= 0 {
		i := nl
		if i < 0 || nu >= 0 && nu < i {
			i = nu
		}
		if equalFoldASCII(s[i+1:i+n], needle[1:]) {
			return true
		}
		if i == nl {
			nl = next(lo, i+1)
		} else {
			nu = next(up, i+1)
		}
	}
	return false
}

func equalFoldASCII(s, lower string) bool {
	for i := 0; i < len(lower); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
