package mongo

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
)

// checkReads reads lines of task id back whole, in pages, and at places
// around chunk boundaries, and checks LogLen.
func checkReads(t *testing.T, l store.Logs, id string, want []string) {
	t.Helper()
	ctx := t.Context()
	n, err := l.LogLen(ctx, id)
	must(t, err)
	if n != int64(len(want)) {
		t.Fatalf("LogLen = %d, want %d", n, len(want))
	}
	read := func(from, limit int) {
		t.Helper()
		got, err := l.ReadLog(ctx, id, int64(from), limit)
		must(t, err)
		w := want[min(from, len(want)):min(from+limit, len(want))]
		if !slices.Equal(got, w) {
			t.Fatalf("ReadLog(%d, %d): %d lines, want %d (or wrong ones)", from, limit, len(got), len(w))
		}
	}
	read(0, len(want)+1)
	for from := 0; from < len(want); from += 1 + len(want)/6 {
		read(from, 53)
	}
	for _, from := range []int{0, 1, 100, 201, 1000, len(want) - 1, len(want), len(want) + 5} {
		read(max(from, 0), 1)
		read(max(from, 0), 150)
	}
}

func setHeadDoc(t *testing.T, s *Store, h headDoc) {
	t.Helper()
	_, err := s.heads.ReplaceOne(t.Context(), bson.D{{Key: "_id", Value: h.ID}}, h, options.Replace().SetUpsert(true))
	must(t, err)
}

func getHeadDoc(t *testing.T, s *Store, id string) headDoc {
	t.Helper()
	var h headDoc
	must(t, findOne(t.Context(), s.heads, bson.D{{Key: "_id", Value: id}}, &h))
	return h
}

// TestLogIndex checks that the head's index of chunks is only a hint:
// stale, missing, wrong, corrupt, or left from a deleted log, reads still
// return exactly the log's lines.
func TestLogIndex(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			defer s.Close(ctx)
			l := s.Logs()
			id := store.NewID()
			lines := benchLines("index", 3000)
			// Pieces big and small: some chunks indexed, some walked past.
			rng := rand.New(rand.NewPCG(7, 8))
			var heads []headDoc
			for from := 0; from < 2000; {
				n := 1 + rng.IntN(30)
				if rng.IntN(4) == 0 {
					n = 100 + rng.IntN(300)
				}
				end := min(from+n, 2000)
				must(t, l.AppendLog(ctx, id, int64(from), lines[from:end]))
				heads = append(heads, getHeadDoc(t, s, id))
				from = end
			}
			checkReads(t, l, id, lines[:2000])

			// The index is sparse but spans the log.
			h := getHeadDoc(t, s, id)
			index, err := decodeIndex(h.Index)
			must(t, err)
			if len(index) < 2000/(indexEvery+300) || index[0] != 0 || !slices.IsSorted(index) {
				t.Errorf("index of %d chunks: %v", len(index), index)
			}
			for i := 1; i < len(index); i++ {
				if index[i]-index[i-1] < indexEvery {
					t.Errorf("indexed chunks %d and %d closer than %d lines", index[i-1], index[i], indexEvery)
				}
			}

			// Stale heads, as racing writers leave them: reads walk past.
			for _, i := range []int{0, len(heads) / 3, len(heads) / 2} {
				setHeadDoc(t, s, heads[i])
				checkReads(t, l, id, lines[:2000])
			}
			// Appending to a stale head indexes what it walks past.
			must(t, l.AppendLog(ctx, id, 2000, lines[2000:2500]))
			h = getHeadDoc(t, s, id)
			if got, _ := decodeIndex(h.Index); len(got) < len(index) {
				t.Errorf("index of %d chunks after appending to a stale head, had %d", len(got), len(index))
			}
			checkReads(t, l, id, lines[:2500])

			// A head from before indexing, none at all, a corrupt or a wrong
			// index, one naming no chunk, or one with a chunk ending
			// elsewhere.
			good := getHeadDoc(t, s, id)
			for name, bad := range map[string]*headDoc{
				"unindexed":   {ID: id, From: good.From, End: good.End},
				"none":        nil,
				"corrupt":     {ID: id, From: good.From, End: good.End, Index: []byte{0xff}},
				"not chunks":  {ID: id, From: good.From, End: good.End, Index: encodeIndex([]int64{0, 7, 1013, 1500})},
				"past end":    {ID: id, From: good.From, End: good.End, Index: encodeIndex([]int64{0, 2400, 9000})},
				"no chunk":    {ID: id, From: 5000, End: 6000, Index: encodeIndex([]int64{0, 5000})},
				"wrong chunk": {ID: id, From: 0, End: 99999},
			} {
				t.Run(name, func(t *testing.T) {
					if bad == nil {
						_, err := s.heads.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
						must(t, err)
					} else {
						setHeadDoc(t, s, *bad)
					}
					checkReads(t, l, id, lines[:2500])
					must(t, l.AppendLog(ctx, id, 2500, lines[2500:2501])) // finds the end all the same
					checkReads(t, l, id, lines[:2501])
					// Back as it was, for the next case.
					_, err := s.chunks.DeleteOne(ctx, bson.D{{Key: "_id", Value: chunkID(id, 2500)}})
					must(t, err)
					setHeadDoc(t, s, good)
				})
			}

			// The head of a deleted log, left behind by a DeleteLog racing
			// an append, over a new log chunked differently.
			must(t, l.DeleteLog(ctx, id))
			for from := 0; from < 1000; from += 250 {
				must(t, l.AppendLog(ctx, id, int64(from), lines[from+1:from+251]))
			}
			newLines := lines[1:1001]
			setHeadDoc(t, s, good)
			checkReads(t, l, id, newLines)
		})
	}
}

// TestLogUnpacked checks that chunks written before lines were packed
// still read.
func TestLogUnpacked(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			defer s.Close(ctx)
			l := s.Logs()
			id := store.NewID()
			lines := benchLines("old", 300)
			lines[3] = ""
			for from := 0; from < 200; from += 50 {
				_, err := s.chunks.InsertOne(ctx, chunkDoc{ID: chunkID(id, int64(from)), TaskID: id, From: int64(from), End: int64(from + 50), Lines: lines[from : from+50]})
				must(t, err)
			}
			setHeadDoc(t, s, headDoc{ID: id, From: 150, End: 200})
			checkReads(t, l, id, lines[:200])
			must(t, l.AppendLog(ctx, id, 150, lines[150:300]))
			checkReads(t, l, id, lines)
		})
	}
}

// TestLogReadWhileAppending reads a log while one writer appends to it,
// as a master serves a running task's log: a read may end early, at
// whatever end the writer has reached, but never returns a wrong line or
// fewer lines than LogLen said were there before it.
func TestLogReadWhileAppending(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			defer s.Close(ctx)
			l := s.Logs()
			id := store.NewID()
			lines := benchLines("live", 20_000)
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				defer close(done)
				rng := rand.New(rand.NewPCG(1, 1))
				for from := 0; from < len(lines); {
					end := min(from+1+rng.IntN(700), len(lines))
					// Sometimes re-sent with overlap, as after a timeout.
					back := from
					if rng.IntN(4) == 0 {
						back = max(0, from-rng.IntN(100))
					}
					if err := l.AppendLog(ctx, id, int64(back), lines[back:end]); err != nil {
						t.Error(err)
						return
					}
					from = end
				}
			})
			for r := range 3 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(2, uint64(r)))
					for reads := 0; ; reads++ {
						select {
						case <-done:
							if reads == 0 {
								t.Error("no read while appending")
							}
							return
						default:
						}
						n, err := l.LogLen(ctx, id)
						if err != nil {
							t.Error(err)
							return
						}
						from := rng.Int64N(n + 1)
						limit := 1 + rng.IntN(3000)
						got, err := l.ReadLog(ctx, id, from, limit)
						if err != nil {
							t.Error(err)
							return
						}
						if want := min(int64(limit), n-from); int64(len(got)) < want {
							t.Errorf("ReadLog(%d, %d) = %d lines, but LogLen said %d before", from, limit, len(got), n)
							return
						}
						if !slices.Equal(got, lines[from:from+int64(len(got))]) {
							t.Errorf("ReadLog(%d, %d) returned wrong lines", from, limit)
							return
						}
					}
				})
			}
			wg.Wait()
			checkReads(t, l, id, lines)
		})
	}
}

func TestPack(t *testing.T) {
	for _, lines := range [][]string{{""}, {"a"}, {"", "", ""}, {"ünï\x00\xff", "x\ny\r\n", string(make([]byte, 300))}, benchLines("p", 1000)} {
		p, err := pack(lines)
		must(t, err)
		got, err := unpack(p)
		must(t, err)
		if !slices.Equal(got, lines) {
			t.Errorf("unpack(pack(%.40q)) = %.40q", lines, got)
		}
	}
	if _, err := unpack([]byte("not deflate")); err == nil {
		t.Error("unpack took garbage")
	}
	for _, idx := range [][]int64{nil, {0}, {0, 1, 100, 100_000, 1 << 40}, {5, 6}} {
		got, err := decodeIndex(encodeIndex(idx))
		if err != nil || !slices.Equal(got, idx) {
			t.Errorf("decodeIndex(encodeIndex(%v)) = %v, %v", idx, got, err)
		}
	}
	for _, bad := range [][]byte{{0xff}, {0, 0}, {1, 0}} {
		if _, err := decodeIndex(bad); err == nil {
			t.Errorf("decodeIndex(%x) took it", bad)
		}
	}
}
