package sysinfo

import (
	"context"
	"crypto/sha256"
	"runtime"
	"testing"
	"time"
)

func TestSamplerReportsThisMachine(t *testing.T) {
	dir := t.TempDir()
	s := NewSampler(dir)
	// Keep a CPU busy until the sample, so the share cannot be zero.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sum := sha256.Sum256(nil)
		for {
			select {
			case <-stop:
				return
			default:
				sum = sha256.Sum256(sum[:])
			}
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	var busy float64
	for busy == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // let the kernel's tick count the spinning goroutine
		m, err := s.Sample(context.Background())
		if err != nil {
			t.Fatalf("Sample: %v", err)
		}
		if m.CPU < 0 || m.CPU > 100 {
			t.Fatalf("CPU = %v, want 0–100", m.CPU)
		}
		if m.MemTotal == 0 || m.MemUsed == 0 || m.MemUsed > m.MemTotal {
			t.Errorf("memory used/total = %d/%d", m.MemUsed, m.MemTotal)
		}
		if m.DiskTotal == 0 || m.DiskUsed > m.DiskTotal {
			t.Errorf("disk used/total = %d/%d", m.DiskUsed, m.DiskTotal)
		}
		if m.NetRx < 0 || m.NetTx < 0 || m.Load1 < 0 {
			t.Errorf("net rx/tx %v/%v, load %v", m.NetRx, m.NetTx, m.Load1)
		}
		busy = m.CPU
	}
	close(stop)
	<-done
	if runtime.GOOS == "linux" && busy == 0 {
		t.Error("CPU stayed 0% while a goroutine spun")
	}
}

func TestRates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := counters{at: t0, busy: 10, total: 100, rx: 1000, tx: 5000, hasCPU: true, hasNet: true}
	for _, tc := range []struct {
		name        string
		cur         counters
		cpu, rx, tx float64
	}{
		{"half busy", counters{at: t0.Add(2 * time.Second), busy: 15, total: 110, rx: 3000, tx: 5000, hasCPU: true, hasNet: true}, 50, 1000, 0},
		{"counters went back", counters{at: t0.Add(time.Second), busy: 5, total: 90, rx: 10, tx: 10, hasCPU: true, hasNet: true}, 0, 0, 0},
		{"no time passed", counters{at: t0, busy: 10, total: 100, rx: 2000, tx: 6000, hasCPU: true, hasNet: true}, 0, 0, 0},
		{"figures missing", counters{at: t0.Add(time.Second)}, 0, 0, 0},
	} {
		cpu, rx, tx := rates(prev, tc.cur)
		if cpu != tc.cpu || rx != tc.rx || tx != tc.tx {
			t.Errorf("%s: got cpu %v rx %v tx %v, want %v %v %v", tc.name, cpu, rx, tx, tc.cpu, tc.rx, tc.tx)
		}
	}
}

// BenchmarkSampler is what one heartbeat's measurement costs the node.
func BenchmarkSampler(b *testing.B) {
	s := NewSampler(b.TempDir())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Sample(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
