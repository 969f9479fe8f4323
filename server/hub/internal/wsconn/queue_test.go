package wsconn

import (
	"bytes"
	"testing"
)

// The queue counts what it holds in bytes, and hands the writer as many
// frames as fit one coalesced frame, always at least one.
func TestQueueTake(t *testing.T) {
	var q queue
	small := TextFrame(bytes.Repeat([]byte("s"), 100<<10))
	big := TextFrame(bytes.Repeat([]byte("b"), MaxFrameOut+1))
	for _, f := range [][]byte{small, small, small, small, small, big, small} {
		q.push(f)
	}
	want := 6*len(small) + len(big)
	if q.size != want {
		t.Fatalf("size %d, want %d", q.size, want)
	}
	for i, n := range []int{5, 1, 1} { // five 100 KiB messages fit 512 KiB; the big one goes alone
		batch := q.take()
		if len(batch) != n {
			t.Fatalf("take %d: %d frames, want %d", i, len(batch), n)
		}
		for _, f := range batch {
			want -= len(f)
		}
		if q.size != want {
			t.Fatalf("take %d: size %d, want %d", i, q.size, want)
		}
	}
	if !q.empty() || q.frames != nil {
		t.Fatal("queue not empty after taking everything")
	}
}

// A frame larger than the whole limit still goes out when nothing waits;
// after that, anything more overflows.
func TestQueueOverflows(t *testing.T) {
	var q queue
	f := TextFrame(bytes.Repeat([]byte("x"), 1000))
	if q.overflows(f, 10) {
		t.Fatal("an empty queue refused a frame")
	}
	q.push(f)
	if !q.overflows(TextFrame([]byte("y")), 10) {
		t.Fatal("a queue past its limit took more")
	}
	q.reset()
	if !q.empty() || q.size != 0 {
		t.Fatal("reset left frames")
	}
}
