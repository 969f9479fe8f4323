package mongo

import (
	"context"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
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
