package bus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestUnreachable: only a connection that is gone takes the bus down at
// once; a slow Redis is the probe's to judge, and Redis's own answers, a
// caller's deadline or a busy pool are the call's failure alone.
func TestUnreachable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.EOF, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{refused, true},
		{&net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}, false},
		{context.DeadlineExceeded, false},
		{redis.ErrPoolTimeout, false},
		{fmt.Errorf("NOPERM this user has no permissions"), false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestResubscribedProbesAtOnce: once the PubSub connections are subscribed
// again, the probe pings at once instead of at its next tick, so calls do
// not keep failing for a second after Redis is back (an agent's reply to a
// request it just heard must not be refused).
func TestResubscribedProbesAtOnce(t *testing.T) {
	h := newHealth(slog.New(slog.DiscardHandler))
	h.every = time.Hour // only a kick can make it ping within the test
	changes := make(chan bool, 4)
	h.Watch(func(up bool) { changes <- up })
	h.setPubSub(false)
	h.setProbe(false)
	if <-changes {
		t.Fatal("up while broken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	pings := make(chan struct{}, 4)
	go func() {
		defer close(done)
		h.probe(ctx, func(context.Context) error { pings <- struct{}{}; return nil })
	}()
	defer func() { cancel(); <-done }()
	h.setPubSub(true)
	select {
	case <-pings:
	case <-time.After(10 * time.Second):
		t.Fatal("no ping after the PubSub connection was subscribed again")
	}
	if up := <-changes; !up || !h.Up() {
		t.Fatal("the bus is not up after the ping answered")
	}
	// Up again: a PubSub connection that comes back with the probe happy
	// does not ping out of turn.
	h.setPubSub(false)
	h.setPubSub(true)
	select {
	case <-pings:
		t.Fatal("pinged although the probe had not failed")
	default:
	}
}
