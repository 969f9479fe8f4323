package wsconn

// queue holds the frames waiting for a client's writer, and their size in
// bytes, by which Conn bounds it. It is not safe for concurrent use: Conn
// guards it with its mutex.
type queue struct {
	frames [][]byte // each made by TextFrame
	size   int      // bytes in frames
}

func (q *queue) empty() bool { return len(q.frames) == 0 }

func (q *queue) push(f []byte) {
	q.frames = append(q.frames, f)
	q.size += len(f)
}

// overflows reports whether f would take the queue past limit bytes. One
// frame larger than the whole queue still goes out alone.
func (q *queue) overflows(f []byte, limit int) bool {
	return q.size > 0 && q.size+len(f) > limit
}

// reset drops everything queued.
func (q *queue) reset() { q.frames, q.size = nil, 0 }

// take removes and returns the first frames, as many as one coalesced
// frame carries (their messages and the commas between them within
// MaxFrameOut), and at least one. The queue must not be empty.
func (q *queue) take() [][]byte {
	n, size := 1, len(FramePayload(q.frames[0]))
	for n < len(q.frames) && size+len(FramePayload(q.frames[n]))+1 <= MaxFrameOut {
		size += len(FramePayload(q.frames[n])) + 1
		n++
	}
	batch := q.frames[:n:n]
	q.frames = q.frames[n:]
	for _, f := range batch {
		q.size -= len(f)
	}
	if len(q.frames) == 0 {
		q.frames = nil // let the backing array go
	}
	return batch
}
