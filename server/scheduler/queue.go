package scheduler

import (
	"container/heap"
	"time"
)

// item is a queued job: a schedule's next fire time (spec set), or a
// fire time to look at again at retryAt.
type item struct {
	job
	spec    *Spec
	retryAt time.Time
	index   int // in queue, kept by its heap methods
}

func (it *item) when() time.Time {
	if it.spec == nil {
		return it.retryAt
	}
	return it.at
}

// queue is a min-heap of items by when.
type queue []*item

var _ heap.Interface = (*queue)(nil)

func (q queue) Len() int           { return len(q) }
func (q queue) Less(i, j int) bool { return q[i].when().Before(q[j].when()) }
func (q queue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *queue) Push(x any) {
	it := x.(*item)
	it.index = len(*q)
	*q = append(*q, it)
}
func (q *queue) Pop() any {
	old := *q
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	it.index = -1
	return it
}
