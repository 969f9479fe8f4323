package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Publisher is the part of the bus the RPC ends need.
type Publisher interface {
	Publish(ctx context.Context, channel string, payload []byte) error
}

// Errors of Caller.Call. Use errors.Is; *OfflineError and *RemoteError carry
// details.
var (
	ErrNodeOffline = errors.New("node is offline")
	ErrUnknownNode = errors.New("no such node")
	ErrTimeout     = errors.New("node did not answer in time")
)

// OfflineError says which node is offline and since when.
type OfflineError struct {
	NodeID   string
	Name     string
	LastSeen time.Time
}

func (e *OfflineError) Error() string {
	if e.LastSeen.IsZero() {
		return fmt.Sprintf("node %s (%s) is offline and has never been seen", e.Name, e.NodeID)
	}
	return fmt.Sprintf("node %s (%s) is offline, last seen %d s ago", e.Name, e.NodeID, int(time.Since(e.LastSeen).Seconds()))
}

// Is makes errors.Is(err, ErrNodeOffline) true.
func (e *OfflineError) Is(target error) bool { return target == ErrNodeOffline }

// RemoteError is an error the agent answered with.
type RemoteError struct {
	NodeID, Op, Msg string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("node %s failed %s: %s", e.NodeID, e.Op, e.Msg)
}

// newIDs returns a generator of ids unique across processes: a random
// prefix per generator and a counter.
func newIDs() func() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := hex.EncodeToString(b[:]) + "-"
	var n atomic.Uint64
	return func() string { return prefix + strconv.FormatUint(n.Add(1), 36) }
}

// CallerConfig configures a Caller. Zero values mean the documented default.
type CallerConfig struct {
	Bus Publisher
	// Live reports whether a node can be called: nil, or an error wrapping
	// ErrNodeOffline / ErrUnknownNode, so calls to a dead node fail at once
	// instead of waiting out the deadline. Nil means every node is live.
	Live func(ctx context.Context, nodeID string) error
	// Event receives every envelope on MasterChannel that is not a reply.
	// It runs on the bus's receive goroutine and must not block. Nil drops
	// events.
	Event func(env *Envelope)
	// Timeout is the deadline of a call whose ctx has none shorter. Zero
	// means 5 s.
	Timeout time.Duration
	Log     *slog.Logger
}

// Caller is the master's end: it sends requests and one-way commands to
// nodes and matches replies arriving on MasterChannel to their waiting
// calls. Many masters may run Callers on one bus; each ignores the replies
// it does not own. Safe for concurrent use.
type Caller struct {
	cfg    CallerConfig
	nextID func() string

	mu      sync.Mutex
	waiting map[string]chan *Envelope // request id → buffered(1) reply slot
}

// NewCaller returns a Caller. Feed it every MasterChannel message with
// Handle.
func NewCaller(cfg CallerConfig) *Caller {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Caller{cfg: cfg, nextID: newIDs(), waiting: map[string]chan *Envelope{}}
}

// Handle takes one message from MasterChannel. Malformed messages and
// envelopes of unknown type are logged and dropped. It never blocks.
func (c *Caller) Handle(payload []byte) {
	env := new(Envelope)
	if err := json.Unmarshal(payload, env); err != nil {
		c.cfg.Log.Warn("dropped malformed message on "+MasterChannel, "err", err, "size", len(payload))
		return
	}
	if env.Re != "" {
		c.mu.Lock()
		slot, ok := c.waiting[env.Re]
		delete(c.waiting, env.Re)
		c.mu.Unlock()
		if ok {
			slot <- env // buffered(1) and removed from the map: never blocks
		}
		// A reply for another master, or one that came after its deadline.
		return
	}
	switch env.Type {
	case EvHeartbeat, EvTaskStatus, EvSpiderSynced:
		if c.cfg.Event != nil {
			c.cfg.Event(env)
		}
	default:
		c.cfg.Log.Warn("dropped message of unknown type on "+MasterChannel, "type", env.Type, "node_id", env.NodeID)
	}
}

// Call sends a request to a node and decodes its reply's payload into out
// (which may be nil). It returns at the latest at the deadline.
func (c *Caller) Call(ctx context.Context, nodeID, op string, in, out any) error {
	if c.cfg.Live != nil {
		if err := c.cfg.Live(ctx, nodeID); err != nil {
			return err
		}
	}
	env, err := c.envelope(nodeID, op, in)
	if err != nil {
		return err
	}
	slot := make(chan *Envelope, 1)
	c.mu.Lock()
	c.waiting[env.ID] = slot
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, env.ID)
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := c.publish(ctx, nodeID, env); err != nil {
		return err
	}
	select {
	case reply := <-slot:
		if reply.Error != "" {
			return &RemoteError{NodeID: nodeID, Op: op, Msg: reply.Error}
		}
		if out != nil && len(reply.Payload) > 0 {
			if err := json.Unmarshal(reply.Payload, out); err != nil {
				return fmt.Errorf("node %s answered %s with a malformed payload: %w", nodeID, op, err)
			}
		}
		return nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("%s on node %s: %w", op, nodeID, ErrTimeout)
		}
		return ctx.Err()
	}
}

// Emit publishes an event on MasterChannel, for every master: masters use
// it for changes they make themselves (a task created or cancelled before
// any node took it), so all masters' clients hear of them.
func (c *Caller) Emit(ctx context.Context, typ string, payload any) error {
	env, err := c.envelope("", typ, payload)
	if err != nil {
		return err
	}
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	return c.cfg.Bus.Publish(ctx, MasterChannel, b)
}

// Send publishes a one-way command: no reply is awaited.
func (c *Caller) Send(ctx context.Context, nodeID, op string, in any) error {
	env, err := c.envelope(nodeID, op, in)
	if err != nil {
		return err
	}
	return c.publish(ctx, nodeID, env)
}

func (c *Caller) envelope(nodeID, op string, in any) (*Envelope, error) {
	env := &Envelope{ID: c.nextID(), Type: op, NodeID: nodeID}
	if in != nil {
		p, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s request: %w", op, err)
		}
		env.Payload = p
	}
	return env, nil
}

func (c *Caller) publish(ctx context.Context, nodeID string, env *Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("encode %s envelope: %w", env.Type, err)
	}
	if err := c.cfg.Bus.Publish(ctx, NodeChannel(nodeID), b); err != nil {
		return fmt.Errorf("send %s to node %s: %w", env.Type, nodeID, err)
	}
	return nil
}
