package bench

import (
	"bytes"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// TestHist: percentiles are within the buckets' 3 % of the exact ones.
func TestHist(t *testing.T) {
	var h Hist
	rng := rand.New(rand.NewPCG(1, 1))
	var xs []time.Duration
	for range 100000 {
		d := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		xs = append(xs, d)
		h.Record(d)
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i] < xs[j] })
	for _, q := range []float64{0.5, 0.99} {
		exact := xs[int(q*float64(len(xs)))-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 0.035 || diff < -0.035 {
			t.Errorf("q%.2f = %v, exact %v", q, got, exact)
		}
	}
	if h.Max() != xs[len(xs)-1] {
		t.Errorf("max %v, want %v", h.Max(), xs[len(xs)-1])
	}
}

// TestLogFollower: lines found in frames of any server are counted once
// and in order; repeats and gaps are told apart.
func TestLogFollower(t *testing.T) {
	var out bytes.Buffer
	if err := Emit(&out, 5, "", 0); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 5 || len(lines[0]) != LineBytes {
		t.Fatalf("emitted %d lines of %d bytes", len(lines), len(lines[0]))
	}
	var delivered atomic.Int64
	f := newLogFollower(5, 0, new(Hist), &delivered)
	frame := func(ls ...[]byte) []byte {
		return append(append([]byte(`[{"params":{"data":{"lines":["`), bytes.Join(ls, []byte(`","`))...), `"]}}}]`...)
	}
	f.handle(frame(lines[0], lines[1]))
	f.handle(frame(lines[1])) // a repeat
	f.handle(frame(lines[3])) // a gap of one
	f.handle(frame(lines[4]))
	if f.dup != 1 || f.gaps != 1 || f.next != 5 || delivered.Load() != 4 {
		t.Fatalf("dup %d gaps %d next %d delivered %d", f.dup, f.gaps, f.next, delivered.Load())
	}
	select {
	case <-f.complete:
	default:
		t.Fatal("not complete")
	}
}

// TestFanoutMarker: a message's marker round-trips through fillMessage and
// the frame scanner, in any server's framing.
func TestFanoutMarker(t *testing.T) {
	if len(msgTemplate) != MessageBytes {
		t.Fatalf("message is %d bytes", len(msgTemplate))
	}
	f := newFanout(2)
	f.cur[7].Store(42)
	m := make([]byte, MessageBytes)
	fillMessage(m, 7, 42)
	f.measuring.Store(true)
	f.handle(append(append([]byte(`{"push":{"channel":"bench","pub":{"data":`), m...), `}}}`...))
	f.handle(append(append([]byte("x\n"), m...), '\n'))
	if f.delivered.Load() != 2 {
		t.Fatalf("delivered %d", f.delivered.Load())
	}
	select {
	case <-f.done[7]:
	default:
		t.Fatal("publisher 7 not told its message reached both clients")
	}
}

// TestSignedRatios: scenario 9's ratios are the geometric mean over the
// rounds that have both buses.
func TestSignedRatios(t *testing.T) {
	rows := []SignedRow{
		{Round: 1, PingCallsPerS: 100, LogLinesPerS: 1000},
		{Round: 1, Signed: true, PingCallsPerS: 50, LogLinesPerS: 1000},
		{Round: 2, PingCallsPerS: 100, LogLinesPerS: 1000},
		{Round: 2, Signed: true, PingCallsPerS: 200, LogLinesPerS: 250},
		{Round: 3, PingCallsPerS: 100, LogLinesPerS: 1000}, // no signed row: left out
	}
	ping, logs := signedRatios(rows)
	if math.Abs(ping-1) > 1e-9 || math.Abs(logs-0.5) > 1e-9 {
		t.Errorf("ratios %v, %v; want 1, 0.5", ping, logs)
	}
	if p, l := signedRatios(rows[4:]); p != 0 || l != 0 {
		t.Errorf("no pair: %v, %v; want 0, 0", p, l)
	}
}
