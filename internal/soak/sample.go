package soak

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/internal/bench"
)

// Metrics sampled.
const (
	MetricRSS        = "rss_bytes"
	MetricGoroutines = "goroutines"
	MetricFDs        = "open_files"
	MetricRedisMem   = "redis_used_memory_bytes"
)

// Point is one sample: seconds since the load started, and the value.
type Point struct {
	T, V float64
}

// Series is one metric of one process over the run.
type Series struct {
	Proc, Metric string
	Points       []Point
	Errors       int // samples that could not be taken
}

// target is one process to sample.
type target struct {
	name    string
	proc    *bench.Proc
	metrics string // a /metrics URL with go_goroutines; empty: none
	token   string // for metrics, when it needs one
	redis   *redis.Client
}

type sampler struct {
	every   time.Duration
	targets []target
	http    *http.Client

	mu     sync.Mutex
	byKey  map[string]*Series
	order  []*Series
	start  time.Time
	closer func()
}

func newSampler(c *cluster, every time.Duration) *sampler {
	s := &sampler{every: every, byKey: map[string]*Series{}, http: &http.Client{Timeout: 5 * time.Second}}
	for i, m := range c.masters {
		s.targets = append(s.targets, target{name: fmt.Sprintf("master-%d", i+1), proc: m.Proc, metrics: m.Base + "/metrics", token: bench.Token})
	}
	for i, a := range c.agents {
		s.targets = append(s.targets, target{name: fmt.Sprintf("agent-%d", i+1), proc: a.Proc, metrics: a.Metrics})
	}
	rc := redis.NewClient(&redis.Options{Addr: c.redis.Addr})
	s.closer = func() { rc.Close() }
	s.targets = append(s.targets, target{name: "redis", proc: c.redis.Proc, redis: rc}, target{name: "ferretdb", proc: c.ferret})
	return s
}

// run samples every s.every until ctx ends, and once at the start.
func (s *sampler) run(ctx context.Context) {
	defer s.closer()
	s.start = time.Now()
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		// Each sample is taken whole, with the client's own timeout, even
		// as the load ends.
		s.sample(context.Background())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) sample(ctx context.Context) {
	now := time.Since(s.start).Seconds()
	for _, tg := range s.targets {
		pid := tg.proc.PID()
		rss, err := tg.proc.RSS()
		s.add(tg.name, MetricRSS, now, float64(rss), err)
		fds, err := openFiles(pid)
		s.add(tg.name, MetricFDs, now, float64(fds), err)
		if tg.metrics != "" {
			g, err := s.goroutines(ctx, tg)
			s.add(tg.name, MetricGoroutines, now, g, err)
		}
		if tg.redis != nil {
			m, err := redisUsedMemory(ctx, tg.redis)
			s.add(tg.name, MetricRedisMem, now, m, err)
		}
	}
}

func (s *sampler) add(proc, metric string, t, v float64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := proc + "/" + metric
	se := s.byKey[k]
	if se == nil {
		se = &Series{Proc: proc, Metric: metric}
		s.byKey[k] = se
		s.order = append(s.order, se)
	}
	if err != nil {
		se.Errors++
		return
	}
	se.Points = append(se.Points, Point{T: t, V: v})
}

func (s *sampler) series() []*Series {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Series(nil), s.order...)
}

// openFiles counts the process's open file descriptors.
func openFiles(pid int) (int, error) {
	es, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(es), err
}

// goroutines reads go_goroutines from a Prometheus text endpoint.
func (s *sampler) goroutines(ctx context.Context, tg target) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tg.metrics, nil)
	if err != nil {
		return 0, err
	}
	if tg.token != "" {
		req.Header.Set("Authorization", "Bearer "+tg.token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: HTTP %d", tg.metrics, resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no go_goroutines", tg.metrics)
}

// redisUsedMemory is used_memory from INFO memory: what Redis allocated,
// client buffers (a PubSub subscriber's backlog) included.
func redisUsedMemory(ctx context.Context, rc *redis.Client) (float64, error) {
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory has no used_memory")
}
