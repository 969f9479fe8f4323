package wsconn

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// outConn is a client's connection. Gorilla reads through it and writes
// its own frames through Write; Conn writes with writeFrame (blocking,
// under a deadline) and tryWrite (never blocking). One mutex orders every
// write, the rest of a frame a non-blocking write could not finish goes
// out before anything else, and after a failed write every write fails.
type outConn struct {
	// What tryWrite touches comes first, together.
	mu      sync.Mutex
	broken  error           // a write failed: it may have left part of a frame on the wire, so nothing more may be written
	pending []byte          // the rest of a frame tryWrite started
	raw     syscall.RawConn // nil: no non-blocking writes
	// tryWrite's arguments and results, for rawWrite (made once: a
	// closure made at each call would cost allocations per delivery).
	try      []byte
	tryN     int
	tryErr   error
	rawWrite func(fd uintptr) bool

	net.Conn
	deadline time.Time // the write deadline gorilla asked for
}

func newOutConn(c net.Conn) *outConn {
	o := &outConn{Conn: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			o.raw = raw
		}
	}
	o.rawWrite = func(fd uintptr) bool {
		o.tryN, o.tryErr = syscall.Write(int(fd), o.try)
		return true // never wait for the socket to become writable
	}
	return o
}

// SetWriteDeadline keeps gorilla's deadline for its next Write, so that it
// cannot shorten a write of Conn's in progress.
func (o *outConn) SetWriteDeadline(t time.Time) error {
	o.mu.Lock()
	o.deadline = t
	o.mu.Unlock()
	return nil
}

// Write is gorilla's: the handshake's answer and control frames.
func (o *outConn) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.broken != nil {
		return 0, o.broken
	}
	if err := o.Conn.SetWriteDeadline(o.deadline); err != nil {
		return 0, err
	}
	defer o.clearDeadline()
	if err := o.flushLocked(); err != nil {
		return 0, err
	}
	n, err := o.Conn.Write(b)
	o.fail(err)
	return n, err
}

// fail records a failed write (see broken).
func (o *outConn) fail(err error) {
	if err != nil && o.broken == nil {
		o.broken = err
	}
}

// clearDeadline removes the deadline of a blocking write once it is done:
// a deadline in the past would fail every later non-blocking write.
func (o *outConn) clearDeadline() { _ = o.Conn.SetWriteDeadline(time.Time{}) }

func (o *outConn) flushLocked() error {
	if len(o.pending) == 0 {
		return nil
	}
	_, err := o.Conn.Write(o.pending)
	o.pending = nil
	o.fail(err)
	return err
}

// writeFrame writes one frame (after what a non-blocking write left),
// giving up at the deadline.
func (o *outConn) writeFrame(f []byte, deadline time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.broken != nil {
		return o.broken
	}
	if err := o.Conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	defer o.clearDeadline()
	if err := o.flushLocked(); err != nil {
		return err
	}
	if len(f) == 0 {
		return nil
	}
	_, err := o.Conn.Write(f)
	o.fail(err)
	return err
}

// errWouldBlock: tryWrite wrote nothing because it would have had to wait.
var errWouldBlock = errors.New("write would block")

// tryWrite writes f without waiting. It returns nil when f is taken:
// written whole, or started with the rest pending (rest true), which a
// writeFrame must then finish; f must not change afterwards.
// errWouldBlock means nothing was written: another write is in progress,
// or the socket's buffer is full. Any other error is the connection's.
func (o *outConn) tryWrite(f []byte) (rest bool, err error) {
	if o.raw == nil || !o.mu.TryLock() {
		return false, errWouldBlock
	}
	defer o.mu.Unlock()
	if o.broken != nil {
		return false, o.broken
	}
	if len(o.pending) > 0 {
		return false, errWouldBlock
	}
	o.try = f
	err = o.raw.Write(o.rawWrite)
	n, werr := o.tryN, o.tryErr
	o.try, o.tryErr = nil, nil
	if err != nil {
		return false, err
	}
	switch {
	case werr == syscall.EAGAIN || werr == syscall.EINTR:
		return false, errWouldBlock
	case werr != nil:
		o.fail(werr)
		return false, werr
	case n < len(f):
		o.pending = f[n:]
		return true, nil
	}
	return false, nil
}

// hijackWrapper hands gorilla's upgrader the connection wrapped in an
// outConn.
type hijackWrapper struct {
	http.ResponseWriter
	conn *outConn
}

func (w *hijackWrapper) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = newOutConn(c)
	return w.conn, brw, nil
}
