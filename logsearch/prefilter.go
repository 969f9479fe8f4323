package logsearch

import (
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// A regular expression is only as fast as Go's regexp on every line, which
// for an alternation like ERROR|Traceback is about 2 µs a line: seconds on
// a million. Most lines of a log match nothing, so a search first asks a
// cheaper question: does the line contain one of the literal strings every
// match must contain (the "required literals", found in the parsed
// expression)? Only lines that do are given to the regexp. The check
// ignores ASCII case, so it holds whatever the expression's flags, and it
// lets every line with a non-ASCII byte through (Unicode case folding
// makes "ſ" match (?i)s, and such lines are few).

// literals returns strings, lower-case ASCII, such that every match of re
// contains one of them (ignoring ASCII case), or nil when there are none
// worth checking.
func literals(re *syntax.Regexp) []string {
	set, ok := required(re.Simplify())
	if !ok || len(set) == 0 || len(set) > 8 {
		return nil
	}
	for _, s := range set {
		if len(s) < 2 {
			return nil // a check that lets nearly every line through costs more than it saves
		}
	}
	return set
}

// required returns a set of strings one of which every match of re
// contains, and false when it knows none.
func required(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		s := string(re.Rune)
		if !isASCII(s) {
			return nil, false
		}
		return []string{strings.ToLower(s)}, true
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		// Each part's set will do: take the one whose shortest string is
		// longest.
		var best []string
		bestLen := 0
		for _, sub := range re.Sub {
			set, ok := required(sub)
			if !ok {
				continue
			}
			if l := shortest(set); l > bestLen {
				best, bestLen = set, l
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			set, ok := required(sub)
			if !ok {
				return nil, false
			}
			all = append(all, set...)
		}
		return all, true
	}
	return nil, false
}

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// maybe reports whether line may match: it contains one of lits, or a
// non-ASCII byte.
func maybe(line string, lits []string) bool {
	for _, l := range lits {
		if containsFoldASCII(line, l) {
			return true
		}
	}
	for i := 0; i < len(line); i++ {
		if line[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}
