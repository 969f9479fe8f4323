package hub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// The hub writes its frames itself rather than through gorilla's writer:
// a message going to many clients is framed once (server frames are not
// masked, so the bytes are the same for every client), and a client with
// nothing waiting gets it with one non-blocking write from the goroutine
// that delivers it, with no writer goroutine to wake and no timer to set.
// Only when that write cannot finish (the client's socket buffer is full)
// or the client already has messages waiting does its writer goroutine
// take over, with a deadline; it answers the client's pings too. Gorilla
// still reads, and writes the few frames of its own (the handshake, the
// replies to a close or to a protocol error) through outConn, which orders
// them with the hub's. A write that fails may leave part of a frame on the
// wire, so after one nothing more is written.

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa

	maxFrameHeader = 10 // unmasked: 2, 4 or 10 bytes
)

// textFrame returns msg as one unmasked text frame.
func textFrame(msg []byte) []byte {
	f := make([]byte, 0, maxFrameHeader+len(msg))
	f = appendFrameHeader(f, opText, len(msg))
	return append(f, msg...)
}

// appendFrameHeader appends the header of a final, unmasked frame with n
// bytes of payload.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	switch {
	case n <= 125:
		return append(dst, 0x80|op, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0x80|op, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0x80|op, 127), uint64(n))
	}
}

// framePayload is the message a frame made by textFrame carries.
func framePayload(f []byte) []byte {
	switch f[1] & 0x7f {
	case 126:
		return f[4:]
	case 127:
		return f[10:]
	default:
		return f[2:]
	}
}

// controlFrame returns a control frame (ping, close) with its payload,
// cut to the 125 bytes control frames may carry.
func controlFrame(op byte, payload []byte) []byte {
	payload = payload[:min(len(payload), 125)]
	return append(appendFrameHeader(make([]byte, 0, 2+len(payload)), op, len(payload)), payload...)
}

var pingFrame = controlFrame(opPing, nil)

// outConn is a client's connection. Gorilla reads through it and writes
// its own frames through Write; the hub writes with writeFrame (blocking,
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
// cannot shorten a write of the hub's in progress.
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
