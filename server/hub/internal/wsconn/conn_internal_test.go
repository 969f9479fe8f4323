package wsconn

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

func TestTextFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xffff, 0x10000, 300000} {
		msg := bytes.Repeat([]byte{'a' + byte(n%26)}, n)
		f := TextFrame(msg)
		if !bytes.Equal(FramePayload(f), msg) {
			t.Fatalf("n=%d: payload differs", n)
		}
		// gorilla, as a client, reads it as one text message.
		o, _, ws := wsPair(t)
		werr := make(chan error, 1)
		go func() { werr <- o.writeFrame(f, farFuture()) }()
		kind, got, err := ws.ReadMessage()
		if err := <-werr; err != nil {
			t.Fatal(err)
		}
		if err != nil || kind != websocket.TextMessage || !bytes.Equal(got, msg) {
			t.Fatalf("n=%d: read %d bytes, kind %d, err %v", n, len(got), kind, err)
		}
	}
}

func TestControlFrameCut(t *testing.T) {
	long := websocket.FormatCloseMessage(wsapi.CloseSlowClient, string(bytes.Repeat([]byte("x"), 300)))
	f := controlFrame(opClose, long)
	if len(f) != 2+125 || f[1] != 125 {
		t.Fatalf("close frame of %d bytes, length byte %d", len(f), f[1])
	}
}

// wsPair upgrades a loopback connection as Accept does: the server's
// outConn and gorilla Conn, and a gorilla client. The kernel buffers are
// small, so a client that does not read fills them quickly.
func wsPair(t *testing.T) (*outConn, *websocket.Conn, *websocket.Conn) {
	t.Helper()
	type up struct {
		o  *outConn
		ws *websocket.Conn
	}
	got := make(chan up, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &hijackWrapper{ResponseWriter: w}
		ws, err := (&websocket.Upgrader{}).Upgrade(hw, r, nil)
		if err != nil {
			got <- up{}
			return
		}
		got <- up{hw.conn, ws}
	}))
	t.Cleanup(srv.Close)
	cli, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.o == nil {
		t.Fatal("upgrade failed")
	}
	s.o.Conn.(*net.TCPConn).SetWriteBuffer(64 << 10)
	cli.NetConn().(*net.TCPConn).SetReadBuffer(64 << 10)
	t.Cleanup(func() { s.ws.Close(); cli.Close() })
	return s.o, s.ws, cli
}

// A non-blocking write that cannot finish leaves the rest pending; the
// next write finishes it first, so the peer reads whole frames in order.
func TestTryWritePartialThenFlush(t *testing.T) {
	o, _, ws := wsPair(t)
	if o.raw == nil {
		t.Fatal("no raw connection for a TCP connection")
	}
	// A frame larger than the socket's buffers: the kernel takes part.
	big := TextFrame(bytes.Repeat([]byte("b"), 1<<20))
	rest, err := o.tryWrite(big)
	if err != nil || !rest {
		t.Fatalf("tryWrite of 1 MiB: rest %v, err %v; want the rest pending", rest, err)
	}
	frames := [][]byte{big}
	// Nothing more is taken until the rest is written.
	if _, err := o.tryWrite(TextFrame([]byte("x"))); err != errWouldBlock {
		t.Fatalf("tryWrite with a frame pending: %v, want errWouldBlock", err)
	}
	last := TextFrame([]byte("last"))
	frames = append(frames, last)
	got := make(chan error, 1)
	go func() {
		for i, f := range frames {
			_, m, err := ws.ReadMessage()
			if err != nil {
				got <- err
				return
			}
			if !bytes.Equal(m, FramePayload(f)) {
				got <- io.ErrUnexpectedEOF
				t.Errorf("message %d differs", i)
				return
			}
		}
		got <- nil
	}()
	if err := o.writeFrame(last, farFuture()); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// Gorilla's own writes (a pong) wait for the rest of a frame Conn
// started.
func TestGorillaWriteAfterPending(t *testing.T) {
	o, server, ws := wsPair(t)
	big := TextFrame(bytes.Repeat([]byte("y"), 1<<20))
	if rest, err := o.tryWrite(big); err != nil || !rest {
		t.Fatalf("tryWrite of 1 MiB: rest %v, err %v; want the rest pending", rest, err)
	}
	frames := [][]byte{big}
	pong := make(chan error, 1)
	go func() { pong <- server.WriteControl(websocket.PongMessage, []byte("p"), farFuture()) }()
	gotPong := make(chan struct{})
	ws.SetPongHandler(func(string) error { close(gotPong); return nil })
	for i := range frames {
		_, m, err := ws.ReadMessage()
		if err != nil || !bytes.Equal(m, FramePayload(frames[i])) {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	go ws.ReadMessage() // runs the pong handler
	<-gotPong
	if err := <-pong; err != nil {
		t.Fatal(err)
	}
}

func farFuture() (t time.Time) { return time.Now().Add(time.Minute) }

// After a write fails (here: its deadline has passed) nothing more is
// written: a failed write may have left part of a frame on the wire.
func TestFailedWriteBreaksConn(t *testing.T) {
	o, _, _ := wsPair(t)
	o.SetWriteDeadline(time.Now().Add(-time.Second)) // as gorilla would, for its next Write
	if _, err := o.Write([]byte("x")); err == nil {
		t.Fatal("a write past its deadline succeeded")
	}
	if _, err := o.tryWrite(TextFrame([]byte("after"))); err == nil || err == errWouldBlock {
		t.Fatalf("tryWrite after a failed write: %v, want the write's error", err)
	}
	if err := o.writeFrame(TextFrame([]byte("after")), farFuture()); err == nil {
		t.Fatal("writeFrame after a failed write succeeded")
	}
}
