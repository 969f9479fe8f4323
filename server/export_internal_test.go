package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// BenchmarkExport measures an export of a task's items per format, from a
// real SQLite store to a writer that discards: ns/op is one item's cost.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close(ctx)
	const n = 20000
	spider, task := store.NewID(), store.NewID()
	for from := 0; from < n; from += 1000 {
		items := make([]json.RawMessage, 1000)
		for i := range items {
			items[i] = fmt.Appendf(nil, `{"url":"https://example.com/p/%d","title":"Item %d, \"quoted\"","price":%d.5,"meta":{"tags":["a","b"]}}`, from+i, from+i, i)
		}
		if _, err := st.Items().AppendItems(ctx, spider, task, int64(from), items, store.Dedup{}); err != nil {
			b.Fatal(err)
		}
	}
	s := &Server{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := bufio.NewWriter(io.Discard)
	for _, format := range []string{"ndjson", "json", "csv"} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				switch format {
				case "csv":
					var cols []string
					if cols, err = s.csvColumns(ctx, spider, task); err == nil {
						err = s.writeCSV(ctx, w, spider, task, cols)
					}
				case "json":
					err = s.writeJSONArray(ctx, w, spider, task)
				default:
					err = s.writeNDJSON(ctx, w, spider, task)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
	}
}

// TestEachKey: the scanner finds the keys and values encoding/json finds,
// in order, escapes and nesting included; what is not an object is an
// error.
func TestEachKey(t *testing.T) {
	for _, tc := range []struct {
		obj  string
		want []string // key=value, values compact
	}{
		{`{}`, nil},
		{` { } `, nil},
		{`{"a":1}`, []string{`a=1`}},
		{`{"a":"x,}]","b":{"c":[1,"]}",{"d":null}]},"e":true,"f":-1.5e3}`, []string{`a="x,}]"`, `b={"c":[1,"]}",{"d":null}]}`, `e=true`, `f=-1.5e3`}},
		{`{"k\"q\u00e9":"v\\\"","x":[ 1, 2 ]}`, []string{`k"qé="v\\\""`, `x=[1,2]`}},
		{"{ \"a\" : \"b\" , \"c\" : [ ] }", []string{`a="b"`, `c=[]`}},
	} {
		var got []string
		err := eachKey([]byte(tc.obj), func(k, v []byte) error {
			got = append(got, string(k)+"="+string(v))
			return nil
		})
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("eachKey(%s) = %q, %v; want %q", tc.obj, got, err, tc.want)
		}
	}
	for _, bad := range []string{``, `[]`, `"a"`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"b`, `{"a":[1}`, `{"a":1 "b":2}`} {
		if err := eachKey([]byte(bad), func(k, v []byte) error { return nil }); err == nil {
			t.Errorf("eachKey(%s): no error", bad)
		}
	}
}
