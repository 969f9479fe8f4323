package mongo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestUnreachable: with the server gone, the store's errors say it could
// not be reached; an answer from the server (no such task) does not.
func TestUnreachable(t *testing.T) {
	f := testenv.StartFerret(t)
	s, err := Open(t.Context(), f.URI, testenv.UniqueDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	_, err = s.Tasks().Get(t.Context(), store.NewID())
	if err == nil || s.Unreachable(err) {
		t.Fatalf("an unknown task: %v, unreachable %v; want not found, not unreachable", err, s.Unreachable(err))
	}
	f.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.Tasks().Get(ctx, store.NewID()); err == nil || !s.Unreachable(err) {
		t.Errorf("with the server stopped: %v, want an error Unreachable recognises", err)
	}
}

// TestTimeLimitIsUnavailable: a query the server stops at its time limit
// (an overloaded server) reads as unavailable, not as a bad call.
func TestTimeLimitIsUnavailable(t *testing.T) {
	f := testenv.StartFerret(t)
	s, err := Open(t.Context(), f.URI, testenv.UniqueDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	c := s.db.Collection("time_limit")
	docs := make([]any, 20_000)
	for i := range docs {
		docs[i] = bson.D{{Key: "i", Value: i}, {Key: "pad", Value: strings.Repeat("x", 100)}}
	}
	if _, err := c.InsertMany(t.Context(), docs); err != nil {
		t.Fatal(err)
	}
	// maxTimeMS 1 over a scan of 20,000 documents: past the limit.
	err = s.db.RunCommand(t.Context(), bson.D{{Key: "find", Value: "time_limit"},
		{Key: "filter", Value: bson.D{{Key: "pad", Value: "y"}}}, {Key: "maxTimeMS", Value: 1}}).Err()
	if err == nil {
		t.Skip("the server answered within 1 ms")
	}
	if !s.Unreachable(err) {
		t.Errorf("a query stopped at its time limit: %v; want an error Unreachable recognises", err)
	}
}
