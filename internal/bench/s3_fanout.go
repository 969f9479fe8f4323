package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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

// measure runs p publishers for warm+dur and reports the dur part.
func (f *fanout) measure(ctx context.Context, pf pubFactory, p int, warm, dur time.Duration) FanoutRow {
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
	return FanoutRow{Publishers: p, Messages: msgs.Load(), Timeouts: timeouts.Load(),
		DeliveriesPerS: float64(f.delivered.Load()) / elapsed.Seconds(), Latency: f.hist.Summary()}
}

// scenarioFanout runs scenario 3 against one system.
func (r *run) scenarioFanout(ctx context.Context, system string, sub Sub, pf pubFactory) {
	for _, n := range []int{100, 1000} {
		f := newFanout(n)
		clients, took, err := DialMany(ctx, sub, n, 32, func(int) func([]byte) { return f.handle })
		if err != nil {
			r.fail(fmt.Sprintf("scenario 3 %s N=%d", system, n), err)
			continue
		}
		r.logf("scenario 3 %s: %d clients subscribed in %v", system, n, took.Round(time.Millisecond))
		for _, p := range []int{1, 16, 64} {
			row := f.measure(ctx, pf, p, r.d(time.Second), r.d(4*time.Second))
			row.System, row.Clients = system, n
			gone := 0
			for _, c := range clients {
				select {
				case <-c.Done():
					gone++
				default:
				}
			}
			r.logf("scenario 3 %s: N=%d P=%d: %.0f deliveries/s (%d messages), p50 %.2f ms, p99 %.2f ms, %d timeouts, %d clients gone",
				system, n, p, row.DeliveriesPerS, row.Messages, row.Latency.P50ms, row.Latency.P99ms, row.Timeouts, gone)
			r.res.Fanout = append(r.res.Fanout, row)
			if gone > 0 {
				r.fail(fmt.Sprintf("scenario 3 %s N=%d P=%d", system, n, p), fmt.Errorf("%d clients were disconnected", gone))
				break
			}
			if ctx.Err() != nil {
				break
			}
		}
		CloseAll(clients)
	}
}

// crawlhubPublisher publishes on crawlhub's upstream path: a task_status
// event on nodes:master, which every master forwards, encoded once, to
// its clients subscribed to "tasks" (as agents publish them).
func (r *run) crawlhubPublisher(rd *Redis) pubFactory {
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr, PoolSize: maxPublishers + 8})
	return func(p int) (publishFunc, func()) {
		env := make([]byte, 0, 256)
		return func(ctx context.Context, data []byte) error {
			env = append(env[:0], `{"id":"bench-`...)
			env = strconv.AppendInt(env, int64(p), 10)
			env = append(env, `","type":"task_status","node_id":"000000000000000000000000","payload":`...)
			env = append(env, data...)
			env = append(env, '}')
			return rc.Publish(ctx, "nodes:master", env).Err()
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
