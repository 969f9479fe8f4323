package logsearch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/wire"
)

func scanOf(lines []string) func(fn func(int64, string) bool) error {
	return func(fn func(int64, string) bool) error {
		for i, l := range lines {
			if !fn(int64(i), l) {
				break
			}
		}
		return nil
	}
}

var sample = []string{
	"2026-12-03 22:42:07 [spider] INFO: GET https://example.com/Error/1", // 0
	"2026-12-03 22:42:07 [spider] ERROR: parse failed",                   // 1
	"Traceback (most recent call last):",                                 // 2: part of line 1's error
	`  File "x.py", line 1`,                                              // 3
	"ValueError: bad",                                                    // 4
	"2026-12-03 22:42:08 [spider] WARNING: slow",                         // 5
	"Traceback (most recent call last):",                                 // 6: an error of its own
	"KeyError: 'é'",                                                      // 7
	"plain Ünïcode ÉRROR line",                                           // 8
}

func TestSearch(t *testing.T) {
	cases := []struct {
		name  string
		q     wire.SearchLog
		lines []int64
	}{
		{"substring ignores case", wire.SearchLog{Q: "error"}, []int64{0, 1, 4, 7}},
		{"case", wire.SearchLog{Q: "Error", Case: true}, []int64{0, 4, 7}},
		{"regex", wire.SearchLog{Q: `^\d{4}-.*(ERROR|WARN)`, Regex: true}, []int64{1, 5}},
		{"regex as written", wire.SearchLog{Q: `error:`, Regex: true}, nil},
		{"regex ignoring case", wire.SearchLog{Q: `(?i)error:`, Regex: true}, []int64{1, 4, 7}},
		{"regex alternation", wire.SearchLog{Q: `WARNING|KeyError|Ün`, Regex: true}, []int64{5, 7, 8}},
		{"regex folds Unicode", wire.SearchLog{Q: `(?i)éRROR`, Regex: true}, []int64{8}},
		{"non-ASCII ignores case", wire.SearchLog{Q: "érror"}, []int64{8}},
		{"errors as counted", wire.SearchLog{Level: LevelError}, []int64{1, 6}},
		{"warnings", wire.SearchLog{Level: LevelWarning}, []int64{5}},
		{"level and text", wire.SearchLog{Level: LevelError, Q: "parse"}, []int64{1}},
		{"regex metacharacters are text", wire.SearchLog{Q: "(most"}, []int64{2, 6}},
	}
	for _, c := range cases {
		s, err := Compile(c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		res, err := s.Run(scanOf(sample))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, m := range res.Matches {
			got = append(got, m.Line)
			if m.Text != sample[m.Line] {
				t.Errorf("%s: line %d text %q", c.name, m.Line, m.Text)
			}
		}
		if !reflect.DeepEqual(got, c.lines) || res.Count != int64(len(c.lines)) || res.Total != int64(len(sample)) || res.Next != -1 {
			t.Errorf("%s: lines %v count %d total %d next %d; want %v, count %d, total %d, next -1",
				c.name, got, res.Count, res.Total, res.Next, c.lines, len(c.lines), len(sample))
		}
	}
}

func TestSearchPages(t *testing.T) {
	lines := make([]string, 10_000)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %d", i)
		if i%100 == 0 {
			lines[i] += " MATCH"
		}
	}
	lines[9_900] += strings.Repeat("é", MaxText) // cut at a rune boundary
	var all []int64
	from := int64(0)
	for from >= 0 {
		s, err := Compile(wire.SearchLog{TaskID: "t", Q: "match", From: from, Limit: 30})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Run(scanOf(lines))
		if err != nil {
			t.Fatal(err)
		}
		if res.Count != 100 || res.Total != 10_000 || res.TaskID != "t" {
			t.Fatalf("from %d: count %d total %d task %q", from, res.Count, res.Total, res.TaskID)
		}
		if len(res.Matches) > 30 {
			t.Fatalf("from %d: %d matches, limit 30", from, len(res.Matches))
		}
		for _, m := range res.Matches {
			all = append(all, m.Line)
			if m.Line == 9_900 {
				if !m.Cut || len(m.Text) > MaxText || !strings.HasPrefix(lines[9_900], m.Text) || !strings.HasSuffix(m.Text, "é") {
					t.Errorf("long line: cut %v, %d bytes", m.Cut, len(m.Text))
				}
			} else if m.Cut {
				t.Errorf("line %d cut", m.Line)
			}
		}
		from = res.Next
	}
	if len(all) != 100 || all[0] != 0 || all[99] != 9_900 {
		t.Errorf("paging found %d matches (%v…)", len(all), all[:min(3, len(all))])
	}
	// From the middle: the count is still the whole log's.
	s, _ := Compile(wire.SearchLog{Q: "MATCH", From: 5_050, Limit: 2})
	res, _ := s.Run(scanOf(lines))
	if res.Count != 100 || len(res.Matches) != 2 || res.Matches[0].Line != 5_100 || res.Next != 5_300 {
		t.Errorf("from 5050: %+v", res)
	}
}

func TestBadQueries(t *testing.T) {
	for _, q := range []wire.SearchLog{
		{},
		{Q: strings.Repeat("a", MaxQuery+1)},
		{Q: "(unclosed", Regex: true},
		{Q: `\C`, Regex: true},
		{Q: "x", Level: "info"},
		{Q: "x", From: -1},
	} {
		if _, err := Compile(q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("Compile(%+v) = %v, want ErrBadQuery", q, err)
		}
	}
	s, err := Compile(wire.SearchLog{Q: "x", Limit: 1_000_000})
	if err != nil || s.q.Limit != MaxLimit {
		t.Errorf("limit 1000000: %v, %d", err, s.q.Limit)
	}
}

// The required literals let through every line the expression matches.
func TestPrefilter(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	exprs := []string{`ab|Ba`, `(?i)kab`, `x(ab)+y`, `(ab){2,3}`, `a[bc]ba`, `(?i)ſa`, `(ab|bA)-?(aB|bb)`, `a*bb`}
	for _, e := range exprs {
		s, err := Compile(wire.SearchLog{Q: e, Regex: true})
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(e)
		for range 5_000 {
			var b strings.Builder
			for range r.IntN(12) {
				b.WriteString([]string{"a", "b", "A", "B", "k", "K", "ſ", "s", "-", "x", "y", "c", "\u212a"}[r.IntN(13)])
			}
			line := b.String()
			if got, want := s.match(line), re.MatchString(line); got != want {
				t.Fatalf("%s on %q: %v, want %v", e, line, got, want)
			}
		}
	}
}

func TestContainsFoldASCII(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alpha := "aAbB-é"
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(alpha[r.IntN(len(alpha))])
		}
		return b.String()
	}
	for range 20_000 {
		s, needle := word(r.IntN(20)), strings.ToLower(word(1+r.IntN(3)))
		if !isASCII(needle) {
			continue
		}
		if got, want := containsFoldASCII(s, needle), strings.Contains(strings.ToLower(s), needle); got != want {
			t.Fatalf("containsFoldASCII(%q, %q) = %v, want %v", s, needle, got, want)
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	lines := make([]string, 100_000)
	for i := range lines {
		lines[i] = fmt.Sprintf("2026-12-03 22:42:07 [scrapy.core.engine] DEBUG: Crawled (200) <GET https://example.com/page/%d> (referer: None)", i)
	}
	for _, q := range []wire.SearchLog{{Q: "traceback"}, {Q: "Traceback", Case: true}, {Q: `page/\d+7>`, Regex: true}, {Level: LevelError}} {
		b.Run(fmt.Sprintf("%+v", q), func(b *testing.B) {
			s, _ := Compile(q)
			for b.Loop() {
				s.Run(scanOf(lines))
			}
		})
	}
}
