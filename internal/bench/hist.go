package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a latency histogram safe for concurrent Record calls. Buckets are
// log-linear: each power of two of nanoseconds is cut into 32 equal
// sub-buckets, so a percentile is off by at most about 3 %, and memory is
// fixed whatever the number of samples (a sorted slice of every latency of
// a scenario delivering millions of lines per second would not be).
type Hist struct {
	counts [64 * subBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const subBits = 5
const subBuckets = 1 << subBits

func bucketOf(ns int64) int {
	if ns < subBuckets {
		if ns < 0 {
			ns = 0
		}
		return int(ns)
	}
	exp := bits.Len64(uint64(ns)) - 1 // ns in [2^exp, 2^(exp+1))
	sub := int(uint64(ns)>>(exp-subBits)) - subBuckets
	return (exp-subBits+1)*subBuckets + sub
}

// bucketMid is a representative value of bucket i (its midpoint).
func bucketMid(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	exp := i/subBuckets + subBits - 1
	sub := i % subBuckets
	lo := int64(subBuckets+sub) << (exp - subBits)
	width := int64(1) << (exp - subBits)
	return lo + width/2
}

// Record adds one latency.
func (h *Hist) Record(d time.Duration) {
	ns := int64(d)
	h.counts[bucketOf(ns)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// Count is the number of samples.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Quantile returns the q-quantile (0 < q <= 1).
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return time.Duration(min(bucketMid(i), h.max.Load()))
		}
	}
	return time.Duration(h.max.Load())
}

// Merge adds o's samples to h (o must not change meanwhile).
func (h *Hist) Merge(o *Hist) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			return
		}
	}
}

// Max is the largest sample.
func (h *Hist) Max() time.Duration { return time.Duration(h.max.Load()) }

// Latency is a histogram's summary, in milliseconds, as results.json keeps
// it.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// Summary summarises the histogram.
func (h *Hist) Summary() Latency {
	ms := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	return Latency{Samples: h.Count(), P50ms: ms(h.Quantile(0.50)), P99ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
}
