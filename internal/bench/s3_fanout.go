package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/wire"
)

// Scenario 3 is closed-loop: each publisher has one message in flight and
// publishes the next once every client has received it. So P publishers
// mean P messages in flight, the same load for every system, no queue
// grows without bound (no client is dropped for being slow), and the
// latency is read at the throughput the system sustains. A message that
// does not reach every client within 5 s is counted as a timeout and the
// publisher moves on.
const maxPublishers = 64

// MessageBytes is the size of a fan-out message's data.
const MessageBytes = 128

// msgTemplate is a 128-byte JSON object shaped like a task_status event
// (crawlhub forwards it as the data of a publication on "tasks"); its
// reason carries the marker, then padding.
var msgTemplate = func() []byte {
	head := `{"task_id":"000000000000000000000000","status":"running","reason":"`
	tail := `"}`
	marker := msgMarker + "00" + "0000000000" + "T" + "0000000000000000000"
	pad := MessageBytes - len(head) - len(marker) - len(tail)
	return []byte(head + marker + string(bytes.Repeat([]byte("x"), pad)) + tail)
}()

var msgMarkerAt = bytes.Index(msgTemplate, []byte(msgMarker))

// fillMessage writes publisher p's message seq, stamped now, into b.
func fillMessage(b []byte, p int, seq uint64) {
	copy(b, msgTemplate)
	o := msgMarkerAt + 2
	putDigits(b[o:o+2], uint64(p))
	putDigits(b[o+2:o+12], seq)
	putDigits(b[o+13:o+32], uint64(time.Now().UnixNano()))
}

type fanout struct {
	n         int
	cur       [maxPublishers]atomic.Uint64 // the sequence in flight per publisher
	cnt       [maxPublishers]atomic.Int64  // clients that received it
	done      [maxPublishers]chan struct{}
	measuring atomic.Bool
	delivered atomic.Int64
	hist      *Hist
}

func newFanout(n int) *fanout {
	f := &fanout{n: n, hist: new(Hist)}
	for i := range f.done {
		f.done[i] = make(chan struct{}, 1)
	}
	return f
}

// handle takes one frame of any of the three servers: it finds the
// messages by their marker.
func (f *fanout) handle(frame []byte) {
	now := time.Now()
	for {
		i := bytes.Index(frame, []byte(msgMarker))
		if i < 0 || len(frame)-i < markerLen+2 {
			return
		}
		m := frame[i+2 : i+markerLen+2]
		frame = frame[i+markerLen+2:]
		p, ok1 := parseDigits(m[0:2])
		seq, ok2 := parseDigits(m[2:12])
		ts, ok3 := parseDigits(m[13:32])
		if !ok1 || !ok2 || !ok3 || p >= maxPublishers {
			continue
		}
		if f.measuring.Load() {
			f.delivered.Add(1)
			f.hist.Record(now.Sub(time.Unix(0, int64(ts))))
		}
		if f.cur[p].Load() == seq && f.cnt[p].Add(1) == int64(f.n) {
			select {
			case f.done[p] <- struct{}{}:
			default:
			}
		}
	}
}

// publishFunc publishes one message's data; pubFactory makes one per
// publisher goroutine, with a closer.
type publishFunc func(ctx context.Context, data []byte) error
type pubFactory func(p int) (publishFunc, func())

// fanRound is one measurement of one system.
type fanRound struct {
	msgs, timeouts, delivered int64
	elapsed                   time.Duration
	hist                      *Hist
}

func (m fanRound) perS() float64 { return float64(m.delivered) / m.elapsed.Seconds() }

// measure runs p publishers for warm+dur and reports the dur part.
func (f *fanout) measure(ctx context.Context, pf pubFactory, p int, warm, dur time.Duration) fanRound {
	f.hist = new(Hist)
	f.delivered.Store(0)
	var msgs, timeouts atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seqBase = uint64(time.Now().UnixNano() % 1e9) // fresh sequences each run
	for i := range p {
		publish, closer := pf(i)
		wg.Go(func() {
			defer closer()
			buf := make([]byte, MessageBytes)
			for seq := seqBase; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				select { // a stale completion of a timed-out message
				case <-f.done[i]:
				default:
				}
				f.cur[i].Store(seq)
				f.cnt[i].Store(0)
				fillMessage(buf, i, seq)
				if err := publish(ctx, buf); err != nil {
					timeouts.Add(1)
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
					continue
				}
				t := time.NewTimer(5 * time.Second)
				select {
				case <-f.done[i]:
					if f.measuring.Load() {
						msgs.Add(1)
					}
				case <-t.C:
					timeouts.Add(1)
				case <-stop:
					t.Stop()
					return
				}
				t.Stop()
			}
		})
	}
	time.Sleep(warm)
	f.measuring.Store(true)
	start := time.Now()
	time.Sleep(dur)
	f.measuring.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	return fanRound{msgs: msgs.Load(), timeouts: timeouts.Load(), delivered: f.delivered.Load(), elapsed: elapsed, hist: f.hist}
}

// fanRounds is how many turns each system takes at each N and P.
const fanRounds = 3

// fanSystem is one server of scenario 3.
type fanSystem struct {
	kind    string
	sub     Sub
	pf      pubFactory
	f       *fanout
	clients []*Client
}

// scenarioFanout runs scenario 3. The systems take turns: at each N and
// P, each of them is measured for a short round, then the next, and so
// on for fanRounds rounds (in a rotating order), and its rounds are
// pooled. So a change in what else the machine does during the run (it
// is shared) touches all of them alike instead of whichever happened to
// run then, and the ratios compare like with like.
func (r *run) scenarioFanout(ctx context.Context, systems []*fanSystem) {
	for _, n := range []int{100, 1000} {
		var up []*fanSystem
		for _, s := range systems {
			s.f = newFanout(n)
			clients, took, err := DialMany(ctx, s.sub, n, 32, func(int) func([]byte) { return s.f.handle })
			if err != nil {
				r.fail(fmt.Sprintf("scenario 3 %s N=%d", s.kind, n), err)
				continue
			}
			r.logf("scenario 3 %s: %d clients subscribed in %v", s.kind, n, took.Round(time.Millisecond))
			s.clients = clients
			up = append(up, s)
		}
		for _, p := range []int{1, 16, 64} {
			rounds := make([][]fanRound, len(up))
			// The write floor is one write per delivery: a floor only
			// with one message in flight (more are batched by a server
			// that batches).
			skip := func(s *fanSystem) bool { return s.kind == KindFloor && p > 1 }
			for round := range fanRounds {
				for k := range up {
					i := (k + round) % len(up)
					if !skip(up[i]) {
						rounds[i] = append(rounds[i], up[i].f.measure(ctx, up[i].pf, p, r.d(500*time.Millisecond), r.d(1500*time.Millisecond)))
					}
				}
			}
			var failed []*fanSystem
			for i, s := range up {
				if skip(s) {
					continue
				}
				row := poolRounds(rounds[i])
				row.System, row.Clients, row.Publishers = s.kind, n, p
				gone, why := 0, error(nil)
				for _, c := range s.clients {
					select {
					case <-c.Done():
						gone++
						if why == nil {
							why = c.Err()
						}
					default:
					}
				}
				r.logf("scenario 3 %s: N=%d P=%d: %.0f deliveries/s (%d messages; rounds %s), p50 %.2f ms, p99 %.2f ms, %d timeouts, %d clients gone",
					s.kind, n, p, row.DeliveriesPerS, row.Messages, roundsText(row.RoundsPerS), row.Latency.P50ms, row.Latency.P99ms, row.Timeouts, gone)
				r.res.Fanout = append(r.res.Fanout, row)
				if gone > 0 {
					r.fail(fmt.Sprintf("scenario 3 %s N=%d P=%d", s.kind, n, p), fmt.Errorf("%d clients were disconnected (the first: %v)", gone, why))
					failed = append(failed, s)
				}
			}
			up = slices.DeleteFunc(up, func(s *fanSystem) bool { return slices.Contains(failed, s) })
			for _, s := range failed {
				CloseAll(s.clients)
				s.clients = nil
			}
			if ctx.Err() != nil || len(up) == 0 {
				break
			}
		}
		for _, s := range systems {
			CloseAll(s.clients)
			s.clients = nil
		}
	}
}

// poolRounds sums a system's rounds into one row.
func poolRounds(rs []fanRound) FanoutRow {
	h := new(Hist)
	var row FanoutRow
	var delivered int64
	var elapsed time.Duration
	for _, m := range rs {
		h.Merge(m.hist)
		row.Messages += m.msgs
		row.Timeouts += m.timeouts
		delivered += m.delivered
		elapsed += m.elapsed
		row.RoundsPerS = append(row.RoundsPerS, m.perS())
	}
	if elapsed > 0 {
		row.DeliveriesPerS = float64(delivered) / elapsed.Seconds()
	}
	row.Latency = h.Summary()
	return row
}

func roundsText(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " ")
}

// crawlhubPublisher publishes on crawlhub's upstream path: a task_status
// event on nodes:master, which every master forwards, encoded once, to
// its clients subscribed to "tasks" (as agents publish them).
func (r *run) crawlhubPublisher(rd *Redis) pubFactory {
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr, PoolSize: maxPublishers + 8})
	// Each event has an id of its own, as an agent's have, in every round:
	// a master passes an id it has just heard on only once.
	var seq atomic.Int64
	return func(p int) (publishFunc, func()) {
		env := make([]byte, 0, 256)
		return func(ctx context.Context, data []byte) error {
			env = append(env[:0], `{"id":"bench-`...)
			env = strconv.AppendInt(env, seq.Add(1), 10)
			env = append(env, `","type":"`+wire.EvTaskStatus+`","node_id":"000000000000000000000000","payload":`...)
			env = append(env, data...)
			env = append(env, '}')
			return rc.Publish(ctx, wire.MasterChannel, env).Err()
		}, func() {}
	}
}

// redisPublisher publishes the data as is on channel (the bare server's
// upstream).
func redisPublisher(rd *Redis, channel string) (pubFactory, func()) {
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr, PoolSize: maxPublishers + 8})
	return func(int) (publishFunc, func()) {
		return func(ctx context.Context, data []byte) error {
			return rc.Publish(ctx, channel, data).Err()
		}, func() {}
	}, func() { rc.Close() }
}

// centrifugoPublisher publishes through Centrifugo's HTTP API.
func centrifugoPublisher(apiURL, channel string) pubFactory {
	tr := &http.Transport{MaxIdleConns: maxPublishers * 2, MaxIdleConnsPerHost: maxPublishers * 2, IdleConnTimeout: time.Minute}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	return func(int) (publishFunc, func()) {
		body := make([]byte, 0, 256)
		return func(ctx context.Context, data []byte) error {
			body = append(body[:0], `{"channel":"`+channel+`","data":`...)
			body = append(body, data...)
			body = append(body, '}')
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL, bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			var buf [512]byte
			n, _ := resp.Body.Read(buf[:])
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || bytes.Contains(buf[:n], []byte(`"error"`)) {
				return fmt.Errorf("centrifugo publish: HTTP %d: %s", resp.StatusCode, buf[:n])
			}
			return nil
		}, func() {}
	}
}
