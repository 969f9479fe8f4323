package mongo

import (
	"encoding/json"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
)

// TestItemDocuments checks the shape people querying MongoDB see: one
// document per item in the spider's collection, the item's own fields at
// the top, the store's beside them, and the item as JSON text only when
// part of it cannot be a field.
func TestItemDocuments(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			defer s.Close(ctx)
			sp, task := store.NewID(), store.NewID()
			_, err := s.Items().AppendItems(ctx, sp, task, 0, []json.RawMessage{
				json.RawMessage(`{"url":"https://x","price":1.5,"stock":3,"tags":["a"],"n":{"k":null}}`),
				json.RawMessage(`{"url":"https://y","a.b":1}`),
			}, store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore})
			if err != nil {
				t.Fatal(err)
			}
			c := s.db.Collection("results_" + sp)
			var doc bson.M
			if err := c.FindOne(ctx, bson.D{{Key: "url", Value: "https://x"}}).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			want := bson.M{
				"_id": task + ":000000000000", "url": "https://x", "price": 1.5, "stock": int64(3),
				"tags": bson.A{"a"}, "n": bson.D{{Key: "k", Value: nil}},
				"_task_id": task, "_n": int64(0), "_key": `["https://x"]`, "_outcome": "new", "_current": true,
			}
			saved, _ := doc["_saved"].(bson.DateTime)
			delete(doc, "_saved")
			if saved == 0 {
				t.Errorf("document has no _saved time")
			}
			if !reflect.DeepEqual(doc, want) {
				t.Errorf("document\n got %v\nwant %v", doc, want)
			}
			if err := c.FindOne(ctx, bson.D{{Key: "_n", Value: 1}, {Key: "_task_id", Value: task}}).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			if doc["url"] != "https://y" || doc["_json"] != `{"url":"https://y","a.b":1}` {
				t.Errorf("document of an item with a dotted key: %v", doc)
			}
		})
	}
}
