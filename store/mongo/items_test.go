package mongo

import (
	"encoding/json"
	"fmt"
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

// TestItemsTwoWriters has two stores (two processes) append to one task
// in turns, each resending what the other stored: neither's memory of
// where its own last append ended may make a gap or a second copy.
func TestItemsTwoWriters(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			db := testenv.UniqueDB(t)
			a, b := open(t, srv.URI, db), open(t, srv.URI, db)
			defer a.Close(ctx)
			defer b.Close(ctx)
			sp, task := store.NewID(), store.NewID()
			var items []json.RawMessage
			for n := range 40 {
				items = append(items, json.RawMessage(fmt.Sprintf(`{"n":%d}`, n)))
			}
			for _, step := range []struct {
				s        *Store
				from, to int
			}{{a, 0, 10}, {b, 10, 20}, {a, 10, 25}, {b, 20, 30}, {a, 30, 40}, {b, 0, 40}} {
				c, err := step.s.Items().AppendItems(ctx, sp, task, int64(step.from), items[step.from:step.to], store.Dedup{})
				if err != nil {
					t.Fatal(err)
				}
				if c.New > int64(step.to-step.from) {
					t.Fatalf("append %d..%d counted %d new", step.from, step.to, c.New)
				}
			}
			got, err := b.Items().ReadItems(ctx, sp, task, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(items) {
				t.Fatalf("%d items stored, want %d", len(got), len(items))
			}
			for i, it := range got {
				if it.N != int64(i) || string(it.Data) != string(items[i]) {
					t.Fatalf("item %d is %d %s, want %s", i, it.N, it.Data, items[i])
				}
			}
			if n, c, err := a.Items().ItemCount(ctx, sp, task); err != nil || n != 40 || c.New != 40 {
				t.Errorf("ItemCount = %d %+v %v, want 40 new", n, c, err)
			}
			// The other process deleted the task's items: a fresh start
			// from 0 is fine whatever this one remembers.
			if err := b.Items().DeleteItems(ctx, sp, task); err != nil {
				t.Fatal(err)
			}
			if _, err := a.Items().AppendItems(ctx, sp, task, 0, items[:5], store.Dedup{}); err != nil {
				t.Fatal(err)
			}
			if n, _, _ := b.Items().ItemCount(ctx, sp, task); n != 5 {
				t.Errorf("after deleting and appending 5: %d items", n)
			}
		})
	}
}
