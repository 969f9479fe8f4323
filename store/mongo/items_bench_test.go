package mongo

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
)

// BenchmarkAppendItems appends items as an agent ships them: batches of
// 500 small items (about 200 bytes) to one task, 20,000 in all, with and
// without deduplication by url. Reported: items stored per second. On
// FerretDB the dedup lookup reads the whole collection, so its rate falls
// as the spider's items grow.
//
//	go test -run '^$' -bench AppendItems -benchtime 1x ./store/mongo
func BenchmarkAppendItems(b *testing.B) {
	const total, batch = 20_000, 500
	items := make([]json.RawMessage, total)
	for n := range items {
		items[n] = json.RawMessage(fmt.Sprintf(`{"url":"https://books.example.com/catalogue/book-%d.html",`+
			`"title":"A Light in the Attic, volume %d","price":51.77,"stock":22,"rating":3,`+
			`"tags":["poetry","classics"],"scraped":"2026-12-03T16:55:13Z"}`, n/2, n))
	}
	for _, srv := range benchServers(b) {
		for _, bc := range []struct {
			name  string
			dedup store.Dedup
		}{
			{"plain", store.Dedup{}},
			{"dedup", store.Dedup{Keys: []string{"url"}, Policy: store.DedupOverwrite}},
		} {
			b.Run(srv.Name+"/"+bc.name, func(b *testing.B) {
				s := open(b, srv.URI, testenv.UniqueDB(b))
				defer s.Close(b.Context())
				for b.Loop() {
					spider, task := store.NewID(), store.NewID()
					for from := 0; from < total; from += batch {
						if _, err := s.Items().AppendItems(b.Context(), spider, task, int64(from), items[from:from+batch], bc.dedup); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "items/s")
			})
		}
	}
}
