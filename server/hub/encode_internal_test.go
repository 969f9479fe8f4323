package hub

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"unicode/utf8"

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
		want, err := encodePublish("task:x:log", wsapi.LogData{From: int64(n), Lines: lines})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendPublish(nil, "task:x:log", "lines", int64(n), linesEntries(int64(n), lines).arr); !bytes.Equal(got, want) {
			t.Fatalf("lines %q:\n got %s\nwant %s", lines, got, want)
		}

		// A batch from the bus: raw or decoded, its notification says
		// the same lines.
		payload, _ := json.Marshal(wire.LogBatch{TaskID: "x", From: int64(n), Lines: lines})
		lb, err := logKind.decode(payload)
		if err != nil {
			t.Fatal(err)
		}
		if lb.n() != len(lines) {
			t.Fatalf("lines %q: counted %d", lines, lb.n())
		}
		var got, exp notification
		var gotData, expData wsapi.LogData
		got.Params.Data, exp.Params.Data = &gotData, &expData
		if err := json.Unmarshal(wsconn.FramePayload(lb.frame(logKind, "task:x:log")), &got); err != nil {
			t.Fatalf("lines %q: %v: %s", lines, err, wsconn.FramePayload(lb.frame(logKind, "task:x:log")))
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
		if got := entryStrings(t, &lb.entries); len(got) != len(lines) {
			t.Fatalf("decoded %d lines, want %d", len(got), len(lines))
		}
	}
}

// countPlainStrings counts the elements of raw if it is an array of
// strings that can go to clients as they are (see scanStringArray).
func countPlainStrings(raw []byte) (int, bool) {
	i := skipSpace(raw, 0)
	spans, j, ok := scanStringArray(raw, i, nil)
	if !ok || skipSpace(raw, j) != len(raw) {
		return 0, false
	}
	return len(spans), true
}

// entryStrings decodes each entry of e, which must be a string.
func entryStrings(t *testing.T, e *entries) []string {
	t.Helper()
	out := make([]string, e.n())
	for i, sp := range e.spans {
		if err := json.Unmarshal(e.arr[sp.start:sp.end], &out[i]); err != nil {
			t.Fatalf("entry %d %s: %v", i, e.arr[sp.start:sp.end], err)
		}
	}
	var all []string
	if err := json.Unmarshal(e.arr, &all); err != nil || len(all) != len(out) {
		t.Fatalf("array %s: %d entries, %v; want %d", e.arr, len(all), err, len(out))
	}
	return out
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
			lb, _ := logKind.decode(payload)
			_ = lb.frame(logKind, "task:0123456789abcdef01234567:log")
		}
	})
	b.Run("page", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			_ = appendPublish(nil, "task:0123456789abcdef01234567:log", "lines", 1000, linesEntries(1000, lines).arr)
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
		got := wire.LogBatch{TaskID: lb.taskID, From: lb.from, End: lb.end, Status: lb.status, Total: lb.total, Lines: entryStrings(t, &lb.entries)}
		if got.TaskID != want.TaskID || got.From != want.From || got.End != want.End || got.Status != want.Status ||
			got.Total != want.Total || len(got.Lines) != len(want.Lines) {
			t.Fatalf("%s: parsed %+v, want %+v", p, got, want)
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

// TestEncodeChunks: a page's notifications carry its entries in order,
// log lines or items, each under chunkMax unless one entry alone is larger
// (an item may be 1 MiB).
func TestEncodeChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, k := range []*kind{logKind, itemsKind} {
		for _, size := range []int{0, 1, 100, 5000, 100 << 10, 600 << 10} {
			count := 3000
			if size > 5000 {
				count = 12
			}
			texts := make([]string, 1+rng.IntN(count))
			for i := range texts {
				texts[i] = string(bytes.Repeat([]byte{"a<\"\n"[rng.IntN(4)]}, rng.IntN(size+1)))
			}
			var e *entries
			if k == logKind {
				e = linesEntries(42, texts)
			} else {
				items := make([]json.RawMessage, len(texts))
				for i, s := range texts {
					items[i], _ = json.Marshal(map[string]string{"v": s})
				}
				e = itemsEntries(42, items)
			}
			chunks := encodeChunks("task:x:"+k.name, k.key, e)
			next := int64(42)
			var got []string
			for _, c := range chunks {
				var n notification
				var d struct {
					From  int64             `json:"from"`
					Lines []string          `json:"lines"`
					Items []json.RawMessage `json:"items"`
				}
				n.Params.Data = &d
				if err := json.Unmarshal(c.msg, &n); err != nil {
					t.Fatal(err)
				}
				vals := d.Lines
				for _, it := range d.Items {
					var v struct{ V string }
					if err := json.Unmarshal(it, &v); err != nil {
						t.Fatal(err)
					}
					vals = append(vals, v.V)
				}
				if d.From != next || len(vals) != c.n {
					t.Fatalf("%s: chunk from %d with %d entries (says %d), want from %d", k.name, d.From, len(vals), c.n, next)
				}
				if len(c.msg) > chunkMax+64 && c.n > 1 {
					t.Fatalf("%s: chunk of %d bytes and %d entries", k.name, len(c.msg), c.n)
				}
				next += int64(c.n)
				got = append(got, vals...)
			}
			if len(got) != len(texts) {
				t.Fatalf("%s: %d entries in chunks, want %d", k.name, len(got), len(texts))
			}
			for i := range got {
				if got[i] != texts[i] {
					t.Fatalf("%s: entry %d differs", k.name, i)
				}
			}
		}
	}
}

// TestItemsEntries: items go to clients as they came, but invalid UTF-8
// is mended, since a text frame must be valid UTF-8; a sub-range is a
// valid array of the same items.
func TestItemsEntries(t *testing.T) {
	items := []json.RawMessage{[]byte(`{"a":1}`), []byte("{\"b\":\"x\xffy\"}"), []byte(`{"c":[1,{"d":null}]}`)}
	e := itemsEntries(5, items)
	if !utf8.Valid(e.arr) {
		t.Fatalf("array not valid UTF-8: %q", e.arr)
	}
	var all []map[string]any
	if err := json.Unmarshal(e.arr, &all); err != nil || len(all) != 3 {
		t.Fatalf("array %s: %v", e.arr, err)
	}
	if all[1]["b"] != "x\uFFFDy" {
		t.Errorf("mended item: %q", all[1]["b"])
	}
	if got := string(e.tail(2)); got != `[{"c":[1,{"d":null}]}]` {
		t.Errorf("tail(2) = %s", got)
	}
	if got := string(e.slice(0, 1)); got != `[{"a":1}]` {
		t.Errorf("slice(0, 1) = %s", got)
	}
}
