package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// growing is a task whose log and items grow while clients follow them,
// as an agent's file does: an entry is readable before it is published,
// and the task has ended (with everything readable) before its end is
// published.
type growing struct {
	backend
	mu    sync.Mutex
	ended bool
}

func (g *growing) ReadLog(ctx context.Context, id string, from int64, limit int) (*wire.LogBatch, error) {
	g.mu.Lock()
	b := g.backend
	g.mu.Unlock()
	return b.ReadLog(ctx, id, from, limit)
}

func (g *growing) ReadItems(ctx context.Context, id string, from int64, limit int) (*wire.ItemBatch, error) {
	g.mu.Lock()
	b := g.backend
	g.mu.Unlock()
	return b.ReadItems(ctx, id, from, limit)
}

func (g *growing) TaskEnded(context.Context, string) (bool, string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return true, "finished", nil
	}
	return false, "running", nil
}

// stream is what the test needs to know of a task's log or items.
type stream struct {
	name    string
	channel string
	// total entries in batches of per: items are fewer, as a client
	// checks each one (under -race that is most of the test's time).
	total, per int64
	// add makes entries from..from+n-1 readable and returns their bus
	// batch.
	add func(g *growing, from int64, n int) []byte
	// end is the bus batch that ends the stream at total.
	end func(total int64) []byte
	// handle gives a bus batch to the hub.
	handle func(h *hub.Hub, payload []byte)
	// decode reads a notification's data: where its entries start and
	// each one as text (a line, or an item's "n"), or the end.
	decode func(data json.RawMessage) (from int64, texts []string, end bool, total int64, err error)
}

func lineOf(n int64) string { return fmt.Sprintf("line %d", n) }

var streams = []stream{
	{
		name: "log", channel: wsapi.LogChannel(taskID), total: 30_000, per: 150,
		add: func(g *growing, from int64, n int) []byte {
			lines := make([]string, n)
			for i := range lines {
				lines[i] = lineOf(from + int64(i))
			}
			// Readers keep the slice they were given: appending never
			// changes what it shows.
			g.mu.Lock()
			g.lines = append(g.lines, lines...)
			g.mu.Unlock()
			p, _ := json.Marshal(wire.LogBatch{TaskID: taskID, From: from, Lines: lines, Total: from + int64(n)})
			return p
		},
		end: func(total int64) []byte {
			p, _ := json.Marshal(wire.LogBatch{TaskID: taskID, From: total, Lines: []string{}, End: true, Status: "finished", Total: total})
			return p
		},
		handle: (*hub.Hub).HandleLog,
		decode: func(data json.RawMessage) (int64, []string, bool, int64, error) {
			var d wsapi.LogData
			err := json.Unmarshal(data, &d)
			return d.From, d.Lines, d.End, d.Total, err
		},
	},
	{
		name: "items", channel: wsapi.ItemsChannel(taskID), total: 12_000, per: 60,
		add: func(g *growing, from int64, n int) []byte {
			items := make([]json.RawMessage, n)
			for i := range items {
				// Items of varied shapes; "n" names each one.
				items[i] = fmt.Appendf(nil, `{"n":%q,"nested":{"k":[%d]},"s":"<é>"}`, lineOf(from+int64(i)), i)
			}
			g.mu.Lock()
			g.items = append(g.items, items...)
			g.mu.Unlock()
			p, _ := json.Marshal(wire.ItemBatch{TaskID: taskID, From: from, Items: items, Total: from + int64(n)})
			return p
		},
		end: func(total int64) []byte {
			p, _ := json.Marshal(wire.ItemBatch{TaskID: taskID, From: total, Items: []json.RawMessage{}, End: true, Status: "finished", Total: total})
			return p
		},
		handle: (*hub.Hub).HandleItems,
		decode: func(data json.RawMessage) (int64, []string, bool, int64, error) {
			var d wsapi.ItemsData
			if err := json.Unmarshal(data, &d); err != nil {
				return 0, nil, false, 0, err
			}
			// Each item is as the agent sent it: its first key is "n".
			// (Decoding 30,000 items for each of 40 clients under -race
			// would make the test about the test client's speed.)
			texts := make([]string, len(d.Items))
			for i, it := range d.Items {
				rest, ok := bytes.CutPrefix(it, []byte(`{"n":"`))
				end := bytes.IndexByte(rest, '"')
				if !ok || end < 0 || !json.Valid(it) {
					return 0, nil, false, 0, fmt.Errorf("item %s is not as sent", it)
				}
				texts[i] = string(rest[:end])
			}
			return d.From, texts, d.End, d.Total, nil
		},
	},
}

// TestStreamNoGap is the gap-free promise, for a task's log and for its
// items alike: clients join at random moments from a random since (some
// after the end), some are cut off midway and resume from the next entry
// on a new connection, the bus loses some batches on the way; each client
// gets every entry from its since exactly once, in order, then the end.
func TestStreamNoGap(t *testing.T) {
	for _, st := range streams {
		t.Run(st.name, func(t *testing.T) {
			total, per := st.total, st.per
			g := &growing{}
			up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
			h, srv := newHub(t, up, g)
			rng := rand.New(rand.NewPCG(7, 8))

			type client struct {
				since, next int64
				cutAt       int64 // cut off after this many entries (0: never)
				delay       time.Duration
				cuts        int
				err         error
			}
			clients := make([]*client, 40)
			for i := range clients {
				c := &client{since: rng.Int64N(total + 1), delay: time.Duration(rng.Int64N(int64(1500 * time.Millisecond)))}
				if i%8 == 0 {
					c.since = 0
				}
				if i%2 == 1 {
					c.cutAt = 1 + rng.Int64N(max(1, (total-c.since)/2))
				}
				clients[i] = c
			}
			follow := func(c *client) {
				done := false
				defer func() {
					if !done && c.err == nil {
						c.err = fmt.Errorf("stalled at %d after %d cuts", c.next, c.cuts)
					}
				}()
				c.next = c.since
				for {
					conn := dial(t, srv)
					if code := conn.call(wsapi.MethodSubscribe, fmt.Sprintf(`{"channel":%q,"since":%d}`, st.channel, c.next)); code != nil {
						c.err = fmt.Errorf("subscribe: error %d", *code)
						return
					}
					var pending []msg
					cut := false
					for !cut {
						m := conn.next(&pending)
						if m.Method != wsapi.MethodPublish {
							continue
						}
						var p wsapi.Publication[json.RawMessage]
						if err := json.Unmarshal(m.Params, &p); err != nil {
							c.err = err
							return
						}
						from, texts, end, tot, err := st.decode(p.Data)
						if err != nil {
							c.err = err
							return
						}
						if end {
							if tot != total || c.next != total {
								c.err = fmt.Errorf("end with total %d after entry %d", tot, c.next)
							}
							conn.ws.Close()
							done = true
							return
						}
						if from != c.next {
							c.err = fmt.Errorf("entries from %d, want %d", from, c.next)
							return
						}
						for i, text := range texts {
							if want := lineOf(from + int64(i)); text != want {
								c.err = fmt.Errorf("entry %d is %q, want %q", from+int64(i), text, want)
								return
							}
						}
						c.next += int64(len(texts))
						cut = c.cutAt > 0 && c.cuts == 0 && c.next-c.since >= c.cutAt
					}
					c.cuts++
					conn.ws.Close()
				}
			}
			var wg sync.WaitGroup
			for _, c := range clients {
				// Each runs until its end notification; a lost one fails
				// in conn.next's read deadline.
				wg.Go(func() {
					time.Sleep(c.delay) // a random moment of the run
					follow(c)
				})
			}
			// The task: batches at a steady pace over about a second, one
			// in twenty lost on the bus.
			for from := int64(0); from < total; from += per {
				p := st.add(g, from, int(per))
				if rng.IntN(20) != 0 {
					st.handle(h, p)
				}
				if from%(per*20) == 0 {
					time.Sleep(5 * time.Millisecond) // pacing: clients join mid-run
				}
			}
			g.mu.Lock()
			g.ended = true
			g.mu.Unlock()
			st.handle(h, st.end(total))
			wg.Wait()
			for i, c := range clients {
				if c.err != nil {
					t.Errorf("client %d (since %d, cut at %d): %v", i, c.since, c.cutAt, c.err)
				}
			}
			if t.Failed() {
				return
			}
			waitRefs(t, h, wire.LogChannel(taskID), 0)
			waitRefs(t, h, wire.ItemsChannel(taskID), 0)
			subs, unsubs := up.counts(map[string]string{"log": wire.LogChannel(taskID), "items": wire.ItemsChannel(taskID)}[st.name])
			if subs == 0 || subs != unsubs {
				t.Errorf("upstream: %d subscribes, %d unsubscribes", subs, unsubs)
			}
		})
	}
}
