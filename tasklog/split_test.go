package tasklog

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// refLines is the specification of the splitter, written the obvious way on
// the whole input: split on '\n', drop one trailing '\r', ToValidUTF8, cut
// into the longest pieces of at most max bytes at rune boundaries.
func refLines(input []byte, max int) []string {
	segs := bytes.Split(input, []byte{'\n'})
	if len(segs[len(segs)-1]) == 0 {
		segs = segs[:len(segs)-1] // input ended with '\n' (or was empty)
	}
	var out []string
	for _, seg := range segs {
		l := strings.ToValidUTF8(string(trimCR(seg)), "\uFFFD")
		for len(l) > max {
			c := max
			for !utf8.RuneStart(l[c]) {
				c--
			}
			out = append(out, l[:c])
			l = l[c:]
		}
		out = append(out, l)
	}
	return out
}

// splitAll feeds the chunks to a splitter and returns every line.
func splitAll(max int, chunks ...[]byte) []string {
	s := splitter{max: max}
	var out []string
	collect := func() {
		start := 0
		for _, e := range s.ends {
			out = append(out, string(s.out[start:e-1]))
			start = e
		}
		s.reset()
	}
	for _, c := range chunks {
		s.write(c)
		collect()
	}
	s.finish()
	collect()
	return out
}

var splitCases = []struct {
	name string
	in   string
	max  int
}{
	{"empty", "", 8},
	{"one line", "hello\n", 8},
	{"no final newline", "hello", 8},
	{"empty lines", "\n\n\n", 8},
	{"crlf", "a\r\nb\r\n", 8},
	{"lone cr line", "\r\n\r", 8},
	{"cr inside", "50%\r60%\r\n", 16},
	{"two crs", "ab\r\r\n", 8},
	{"ansi kept", "\x1b[31mred\x1b[0m\n", 32},
	{"exactly max", "12345678\n", 8},
	{"max plus one", "123456789\n", 8},
	{"max with crlf", "12345678\r\n", 8},
	{"max with cr then more", "12345678\rx\n", 8},
	{"max with cr cr", "12345678\r\r\n", 8},
	{"two max", "1234567812345678\n", 8},
	{"cr at end of piece", "1234567\rabc\n", 8},
	{"rune across max", "1234567é9\n", 8},
	{"rune 4 bytes across max", "123456𝄞\n", 8},
	{"invalid", "a\xffb\n", 8},
	{"invalid run", "a\xff\xfe\xfdb\n", 8},
	{"invalid run across max", "1234567\xff\xff\xff\xffabc\n", 8},
	{"replacement grows line", "\xffa\xffa\xffa\n", 8},
	{"long invalid run", strings.Repeat("\xff", 100) + "\n", 8},
	{"truncated rune at eol", "ab\xe2\x82\n", 8},
	{"truncated rune then cr", "ab\xe2\r\n", 8},
	{"truncated rune at end", "ab\xe2\x82", 8},
	{"valid fffd kept", "a\uFFFD\xffb\n", 8},
	{"continuation bytes", "\x80\x80a\n", 8},
	{"surrogate encoding", "\xed\xa0\x80x\n", 8},
	{"overlong", "\xc0\xafx\n", 8},
	{"utf8 text", "日本語のログ\n", 64},
	{"utf8 text cut", "日本語のログ\n", 7},
	{"final lone cr", "a\n\r", 8},
	{"long line", strings.Repeat("x", 50) + "\n" + strings.Repeat("y", 17), 8},
}

// TestSplitter checks every case against the specification, written whole,
// in every two-piece split, and byte by byte: the result must not depend on
// where Writes cut the stream.
func TestSplitter(t *testing.T) {
	for _, tc := range splitCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			want := refLines(in, tc.max)
			check := func(how string, got []string) {
				t.Helper()
				if !slices.Equal(got, want) {
					t.Fatalf("%s: got %q, want %q", how, got, want)
				}
				for _, l := range got {
					if len(l) > tc.max || !utf8.ValidString(l) {
						t.Fatalf("%s: bad line %q", how, l)
					}
				}
			}
			check("whole", splitAll(tc.max, in))
			for i := 0; i <= len(in); i++ {
				check("split", splitAll(tc.max, in[:i], in[i:]))
			}
			var bytewise [][]byte
			for i := range in {
				bytewise = append(bytewise, in[i:i+1])
			}
			check("bytewise", splitAll(tc.max, bytewise...))
		})
	}
}

// TestSplitterRandom compares random streams of awkward bytes, cut at random
// places, with the specification.
func TestSplitterRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := [][]byte{
		[]byte("a"), []byte("b"), []byte("\n"), []byte("\r"), []byte("\r\n"),
		{0xff}, {0xe2}, {0x82}, {0xac}, []byte("é"), []byte("€"), []byte("𝄞"),
		[]byte("\uFFFD"), []byte("\x1b[0m"),
	}
	for iter := 0; iter < 3000; iter++ {
		var in []byte
		for n := rng.IntN(80); n > 0; n-- {
			in = append(in, alphabet[rng.IntN(len(alphabet))]...)
		}
		max := 4 + rng.IntN(10)
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := 1 + rng.IntN(min(len(rest), 12))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		got, want := splitAll(max, chunks...), refLines(in, max)
		if !slices.Equal(got, want) {
			t.Fatalf("input %q max %d chunks %q:\ngot  %q\nwant %q", in, max, chunks, got, want)
		}
	}
}

// FuzzSplitter: go test -fuzz FuzzSplitter ./tasklog/
func FuzzSplitter(f *testing.F) {
	for _, tc := range splitCases {
		f.Add([]byte(tc.in), uint8(tc.max), uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, max, cut uint8) {
		m := 4 + int(max%60)
		step := 1 + int(cut)
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := min(step, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		if got, want := splitAll(m, chunks...), refLines(in, m); !slices.Equal(got, want) {
			t.Fatalf("max %d step %d: got %q, want %q", m, step, got, want)
		}
	})
}
