package hub

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// TestAppendLogPublish: the hand-written encoder writes exactly what
// encoding/json writes, whatever the lines hold.
func TestAppendLogPublish(t *testing.T) {
	pieces := []string{"a", "line 1", "é", "日本", `"`, `\`, "<", ">", "&", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"\u2028", "\u2029", "\xff", "\xe2\x82", "\xf0\x9f\x98\x80", "\U0001F600", " ", "{}", "[1]"}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 2000 {
		lines := make([]string, rng.IntN(5))
		for i := range lines {
			var b []byte
			for range rng.IntN(8) {
				b = append(b, pieces[rng.IntN(len(pieces))]...)
			}
			lines[i] = string(b)
		}
		if n == 0 {
			lines = nil
		}
		want, err := encodePublish("task:x:log", wsapi.LogData{From: int64(n), Lines: lines})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendLogPublish(nil, "task:x:log", int64(n), lines); !bytes.Equal(got, want) {
			t.Fatalf("lines %q:\n got %s\nwant %s", lines, got, want)
		}

		// A batch from the bus: raw or decoded, its notification says
		// the same lines.
		payload, _ := json.Marshal(wire.LogBatch{TaskID: "x", From: int64(n), Lines: lines})
		lb, err := decodeLiveBatch(payload)
		if err != nil {
			t.Fatal(err)
		}
		if lb.n != len(lines) {
			t.Fatalf("lines %q: counted %d", lines, lb.n)
		}
		var got, exp notification
		var gotData, expData wsapi.LogData
		got.Params.Data, exp.Params.Data = &gotData, &expData
		if err := json.Unmarshal(wsconn.FramePayload(lb.frame("task:x:log")), &got); err != nil {
			t.Fatalf("lines %q: %v: %s", lines, err, wsconn.FramePayload(lb.frame("task:x:log")))
		}
		_ = json.Unmarshal(want, &exp)
		if len(gotData.Lines) != len(expData.Lines) || gotData.From != expData.From {
			t.Fatalf("lines %q: raw notification %+v, want %+v", lines, gotData, expData)
		}
		for i := range gotData.Lines {
			if gotData.Lines[i] != expData.Lines[i] {
				t.Fatalf("lines %q: raw notification line %d = %q, want %q", lines, i, gotData.Lines[i], expData.Lines[i])
			}
		}
		if b := lb.batch(); len(b.Lines) != len(lines) {
			t.Fatalf("decoded %d lines, want %d", len(b.Lines), len(lines))
		}
	}
}

// countPlainStrings counts the elements of raw if it is an array of
// strings that can go to clients as they are (see scanStringArray).
func countPlainStrings(raw []byte) (int, bool) {
	i := skipSpace(raw, 0)
	n, j, ok := scanStringArray(raw, i)
	if !ok || skipSpace(raw, j) != len(raw) {
		return 0, false
	}
	return n, true
}

func TestCountPlainStrings(t *testing.T) {
	for _, tc := range []struct {
		raw string
		n   int
		ok  bool
	}{
		{`[]`, 0, true}, {` [ ] `, 0, true}, {`["a"]`, 1, true}, {`["a","b\"c",  "\u0041"]`, 3, true},
		{`["a\\"]`, 1, true}, {`null`, 0, false}, {`[1]`, 0, false}, {`["a",1]`, 0, false}, {`{"a":"b"}`, 0, false},
		{"[\"\xff\"]", 0, false}, {"[\"a\x01\"]", 0, false}, {`["é日本"]`, 1, true},
	} {
		n, ok := countPlainStrings([]byte(tc.raw))
		if n != tc.n || ok != tc.ok {
			t.Errorf("countPlainStrings(%q) = %d, %v; want %d, %v", tc.raw, n, ok, tc.n, tc.ok)
		}
	}
}

func BenchmarkHandleLogEncode(b *testing.B) {
	lines := make([]string, 320)
	for i := range lines {
		lines[i] = string(bytes.Repeat([]byte("x"), 100))
	}
	payload, _ := json.Marshal(wire.LogBatch{TaskID: "0123456789abcdef01234567", From: 1000, Lines: lines})
	// What encoding/json costs for the same bytes, from a plain struct of
	// the lines' shape (wsapi.LogData's MarshalJSON, which picks between
	// the lines' shape and the end's, would add its own cost to the
	// comparison).
	type linesData struct {
		From  int64    `json:"from"`
		Lines []string `json:"lines"`
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			var lb wire.LogBatch
			_ = json.Unmarshal(payload, &lb)
			_, _ = encodePublish("task:0123456789abcdef01234567:log", linesData{From: lb.From, Lines: lb.Lines})
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			lb, _ := decodeLiveBatch(payload)
			_ = lb.frame("task:0123456789abcdef01234567:log")
		}
	})
	b.Run("page", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			_ = appendLogPublish(nil, "task:0123456789abcdef01234567:log", 1000, lines)
		}
	})
}

// TestParseLogBatch: what the fast parser accepts, encoding/json decodes to
// the same batch; mutated payloads never slip through as something else.
func TestParseLogBatch(t *testing.T) {
	base := []wire.LogBatch{
		{TaskID: "0123456789abcdef01234567", From: 7, Lines: []string{"a", `b"c`, "é", "<&>", "x\ty"}},
		{TaskID: "t", From: 0, Lines: []string{}},
		{TaskID: "t", From: 12, Lines: []string{}, End: true, Status: "finished", Total: 12},
		{TaskID: "t", From: 3, Lines: nil},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	check := func(p []byte) {
		lb, ok := parseLogBatch(p)
		if !ok {
			return
		}
		var want wire.LogBatch
		if err := json.Unmarshal(p, &want); err != nil {
			t.Fatalf("parsed %s, which encoding/json refuses: %v", p, err)
		}
		got := *lb.batch()
		if got.TaskID != want.TaskID || got.From != want.From || got.End != want.End || got.Status != want.Status ||
			got.Total != want.Total || len(got.Lines) != len(want.Lines) || lb.n != len(want.Lines) {
			t.Fatalf("%s: parsed %+v (n %d), want %+v", p, got, lb.n, want)
		}
		for i := range got.Lines {
			if got.Lines[i] != want.Lines[i] {
				t.Fatalf("%s: line %d %q, want %q", p, i, got.Lines[i], want.Lines[i])
			}
		}
	}
	for _, b := range base {
		p, _ := json.Marshal(b)
		if _, ok := parseLogBatch(p); !ok {
			t.Errorf("%s: not parsed", p)
		}
		check(p)
		for range 20000 {
			m := append([]byte(nil), p...)
			for range 1 + rng.IntN(3) {
				switch k := rng.IntN(3); {
				case k == 0 && len(m) > 0:
					const set = "\"\\[]{},:0aeu \x01\xff"
					m[rng.IntN(len(m))] = set[rng.IntN(len(set))]
				case k == 1 && len(m) > 0:
					i := rng.IntN(len(m))
					m = append(m[:i], m[i+1:]...)
				default:
					i := rng.IntN(len(m) + 1)
					m = append(m[:i], append([]byte{"\"\\[]{},:0"[rng.IntN(9)]}, m[i:]...)...)
				}
			}
			check(m)
		}
	}
}

// TestEncodeChunks: a page's notifications carry its lines in order, each
// under chunkMax unless one line alone is larger.
func TestEncodeChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{0, 1, 100, 5000, 100 << 10, 600 << 10} {
		count := 3000
		if size > 5000 {
			count = 12
		}
		lines := make([]string, 1+rng.IntN(count))
		for i := range lines {
			lines[i] = string(bytes.Repeat([]byte{"a<\"\n"[rng.IntN(4)]}, rng.IntN(size+1)))
		}
		chunks := encodeChunks("task:x:log", 42, lines)
		next := int64(42)
		var got []string
		for _, c := range chunks {
			var n notification
			var d wsapi.LogData
			n.Params.Data = &d
			if err := json.Unmarshal(c.msg, &n); err != nil {
				t.Fatal(err)
			}
			if d.From != next || len(d.Lines) != c.lines {
				t.Fatalf("chunk from %d with %d lines (says %d), want from %d", d.From, len(d.Lines), c.lines, next)
			}
			if len(c.msg) > chunkMax+64 && c.lines > 1 {
				t.Fatalf("chunk of %d bytes and %d lines", len(c.msg), c.lines)
			}
			next += int64(c.lines)
			got = append(got, d.Lines...)
		}
		if len(got) != len(lines) {
			t.Fatalf("%d lines in chunks, want %d", len(got), len(lines))
		}
		for i := range got {
			if got[i] != lines[i] {
				t.Fatalf("line %d differs", i)
			}
		}
	}
}
