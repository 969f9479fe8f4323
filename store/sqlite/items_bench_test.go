package sqlite_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// BenchmarkAppendItems appends items as an agent ships them: batches of
// 500 small items (about 200 bytes), in order, to one task, with the
// spider deduplicating by url. Reported: items stored per second.
func BenchmarkAppendItems(b *testing.B) {
	for _, bc := range []struct {
		name  string
		dedup store.Dedup
	}{
		{"plain", store.Dedup{}},
		{"dedup", store.Dedup{Keys: []string{"url"}, Policy: store.DedupOverwrite}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b, b.TempDir())
			defer s.Close(b.Context())
			const batch = 500
			items := make([]json.RawMessage, batch)
			spider, task := store.NewID(), store.NewID()
			b.ReportAllocs()
			b.ResetTimer()
			var from int64
			for b.Loop() {
				b.StopTimer() // the items are the agent's work, not the store's
				for i := range items {
					n := from + int64(i)
					// Every tenth url repeats an earlier one.
					url := n
					if n%10 == 9 {
						url = n / 2
					}
					items[i] = json.RawMessage(fmt.Sprintf(`{"url":"https://books.example.com/catalogue/book-%d.html",`+
						`"title":"A Light in the Attic, volume %d","price":51.77,"stock":22,"rating":3,`+
						`"tags":["poetry","classics"],"scraped":"2026-12-03T16:55:13Z"}`, url, n))
				}
				b.StartTimer()
				if _, err := s.Items().AppendItems(b.Context(), spider, task, from, items, bc.dedup); err != nil {
					b.Fatal(err)
				}
				from += batch
			}
			b.ReportMetric(float64(from)/b.Elapsed().Seconds(), "items/s")
		})
	}
}
