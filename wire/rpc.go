package wire

import (
	"bytes"
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
	// Signer signs what the Caller publishes and checks what it receives;
	// nil is the insecure bus (no cluster secret).
	Signer *Signer
	// Observer is told how every Call ended (e.g. to count and time
	// calls). Nil observes nothing.
	Observer CallObserver
	Log      *slog.Logger
}

// CallObserver watches a Caller's calls, so that they can be counted and
// timed without this package knowing how. CallDone runs on the calling
// goroutine once a Call returns: it must be quick and must not block.
type CallObserver interface {
	CallDone(op string, outcome CallOutcome, took time.Duration)
}

// CallOutcome is how a Call ended, in a few kinds (see OutcomeOf).
type CallOutcome uint8

// The outcomes of a Call. Their order is fixed: observers may index
// arrays of NumCallOutcomes by them.
const (
	CallOK          CallOutcome = iota // the node answered
	CallRemoteError                    // the node answered with an error (*RemoteError)
	CallOffline                        // the node is offline (ErrNodeOffline)
	CallUnknownNode                    // no such node (ErrUnknownNode)
	CallTimeout                        // no answer by the deadline (ErrTimeout)
	CallCancelled                      // the caller gave up (its context ended)
	CallFailed                         // anything else: not sent, a malformed reply
	NumCallOutcomes
)

var callOutcomeNames = [NumCallOutcomes]string{"ok", "remote_error", "offline", "unknown_node", "timeout", "cancelled", "error"}

func (o CallOutcome) String() string {
	if o < NumCallOutcomes {
		return callOutcomeNames[o]
	}
	return "error"
}

// OutcomeOf is the outcome of a Call that returned err.
func OutcomeOf(err error) CallOutcome {
	var remote *RemoteError
	switch {
	case err == nil:
		return CallOK
	case errors.As(err, &remote):
		return CallRemoteError
	case errors.Is(err, ErrNodeOffline):
		return CallOffline
	case errors.Is(err, ErrUnknownNode):
		return CallUnknownNode
	case errors.Is(err, ErrTimeout):
		return CallTimeout
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return CallCancelled
	}
	return CallFailed
}

// Caller is the master's end: it sends requests and one-way commands to
// nodes and matches replies arriving on MasterChannel to their waiting
// calls. Many masters may run Callers on one bus; each ignores the replies
// it does not own. Safe for concurrent use.
type Caller struct {
	cfg    CallerConfig
	nextID func() string

	mu      sync.Mutex
	waiting map[string]waiter // by request id

	drops dropLog // replies from a node other than the one called
}

// waiter is a call waiting for its reply.
type waiter struct {
	node string      // the node called: only its reply is accepted
	slot chan []byte // buffered(1): the raw reply
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
	return &Caller{cfg: cfg, nextID: newIDs(), waiting: map[string]waiter{}}
}

// Handle takes one message from MasterChannel. Malformed messages and
// envelopes of unknown type are logged and dropped, and so are, with a
// cluster secret, unsigned or badly signed ones, and replies from a node
// other than the one called (with or without a secret). It never blocks.
//
// It runs on the bus's one receive goroutine, which every master's reply
// and event passes through, so replies are not decoded here: their "re" is
// read from the head of the envelope (see peekReply) and the raw message goes
// to the waiting call, which decodes it on its own goroutine. A reply for
// another master is dropped without being decoded at all. (A get_log reply
// carries up to 10,000 lines: decoding it here held up every other message,
// the live log batches included.)
func (c *Caller) Handle(payload []byte) {
	payload, ok := c.cfg.Signer.Accept(MasterChannel, payload)
	if !ok {
		return
	}
	node, re, ok := peekReply(payload)
	if !ok {
		// Not the head wire's encoder writes: decode it all.
		env := new(Envelope)
		if err := json.Unmarshal(payload, env); err != nil {
			c.cfg.Log.Warn("dropped malformed message on "+MasterChannel, "err", err, "size", len(payload))
			return
		}
		if env.Re == "" {
			c.event(env)
			return
		}
		node, re = env.NodeID, env.Re
	}
	if re != "" {
		c.mu.Lock()
		w, ok := c.waiting[re]
		if ok && w.node != node {
			c.mu.Unlock()
			// Not the node called: the call keeps waiting for its own.
			c.drops.warn(c.cfg.Log, "dropped a reply from a node that was not called", "re", re, "node_id", node, "called", w.node)
			return
		}
		delete(c.waiting, re)
		c.mu.Unlock()
		if ok {
			w.slot <- payload // buffered(1) and removed from the map: never blocks
		}
		// A reply for another master, or one that came after its deadline.
		return
	}
	env := new(Envelope)
	if err := json.Unmarshal(payload, env); err != nil {
		c.cfg.Log.Warn("dropped malformed message on "+MasterChannel, "err", err, "size", len(payload))
		return
	}
	c.event(env)
}

func (c *Caller) event(env *Envelope) {
	switch env.Type {
	case EvHeartbeat, EvTaskStatus, EvSpiderSynced, EvScheduleChanged, EvScheduleFired, EvCredentialsRevoked, EvAudit, EvDelivery:
		if c.cfg.Event != nil {
			c.cfg.Event(env)
		}
	default:
		c.cfg.Log.Warn("dropped message of unknown type on "+MasterChannel, "type", env.Type, "node_id", env.NodeID)
	}
}

// peekReply reads the "node_id" and "re" of an envelope from its head, as
// json.Marshal of an Envelope writes it:
// {"id":"…","type":"…"[,"node_id":"…"][,"re":"…"],… It reports false for
// anything else (another field order, an escape in a string), and the
// caller decodes the whole envelope instead. re is empty for an envelope
// without one (an event).
func peekReply(b []byte) (node, re string, ok bool) {
	rest, _, ok := peekField(b, `{"id":"`)
	if !ok {
		return "", "", false
	}
	if rest, _, ok = peekField(rest, `,"type":"`); !ok {
		return "", "", false
	}
	const nodeKey = `,"node_id":"`
	if len(rest) >= len(nodeKey) && string(rest[:len(nodeKey)]) == nodeKey {
		r, v, ok := peekField(rest, nodeKey)
		if !ok {
			return "", "", false
		}
		rest, node = r, string(v)
	}
	const reKey = `,"re":"`
	if len(rest) < len(reKey) || string(rest[:len(reKey)]) != reKey {
		// No re: an event, if what follows is what json.Marshal writes
		// after re (a later "re" in another order must not pass as one).
		if bytes.HasPrefix(rest, []byte(`,"payload":`)) || bytes.HasPrefix(rest, []byte(`,"error":`)) || bytes.HasPrefix(rest, []byte(`}`)) {
			return node, "", true
		}
		return "", "", false
	}
	rest = rest[len(reKey):]
	i := stringEnd(rest)
	if i <= 0 {
		return "", "", false
	}
	return node, string(rest[:i]), true
}

// peekField skips key and the plain JSON string after it (key ends with its
// opening quote), returning what follows the closing quote and the
// string's contents.
func peekField(b []byte, key string) (rest, val []byte, ok bool) {
	if len(b) < len(key) || string(b[:len(key)]) != key {
		return nil, nil, false
	}
	b = b[len(key):]
	i := stringEnd(b)
	if i < 0 {
		return nil, nil, false
	}
	return b[i+1:], b[:i], true
}

// stringEnd is the index of the quote closing a JSON string whose opening
// quote was just read, or -1 when the string has an escape, a control
// character or a byte outside ASCII (not a plain id: invalid UTF-8 would
// read differently here than in encoding/json, which replaces it) or does
// not end.
func stringEnd(b []byte) int {
	for i, c := range b {
		switch {
		case c == '"':
			return i
		case c == '\\' || c < 0x20 || c >= 0x80:
			return -1
		}
	}
	return -1
}

// Call sends a request to a node and decodes its reply's payload into out
// (which may be nil). It returns at the latest at the deadline.
func (c *Caller) Call(ctx context.Context, nodeID, op string, in, out any) error {
	if c.cfg.Observer == nil {
		return c.call(ctx, nodeID, op, in, out)
	}
	start := time.Now()
	err := c.call(ctx, nodeID, op, in, out)
	c.cfg.Observer.CallDone(op, OutcomeOf(err), time.Since(start))
	return err
}

func (c *Caller) call(ctx context.Context, nodeID, op string, in, out any) error {
	if c.cfg.Live != nil {
		if err := c.cfg.Live(ctx, nodeID); err != nil {
			return err
		}
	}
	env, err := c.envelope(nodeID, op, in)
	if err != nil {
		return err
	}
	slot := make(chan []byte, 1)
	c.mu.Lock()
	c.waiting[env.ID] = waiter{node: nodeID, slot: slot}
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
	case raw := <-slot:
		// One pass decodes the envelope and its payload straight into out
		// (a non-nil pointer in an interface is decoded into).
		var discard json.RawMessage
		reply := struct {
			Error   string `json:"error"`
			Payload any    `json:"payload"`
		}{Payload: out}
		if out == nil {
			reply.Payload = &discard
		}
		if err := json.Unmarshal(raw, &reply); err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return fmt.Errorf("node %s answered %s with a malformed reply: %w", nodeID, op, err)
			}
			// The envelope is fine but its payload is not what op returns;
			// an error reply says more.
			var env Envelope
			if json.Unmarshal(raw, &env) == nil && env.Error != "" {
				return &RemoteError{NodeID: nodeID, Op: op, Msg: env.Error}
			}
			return fmt.Errorf("node %s answered %s with a malformed payload: %w", nodeID, op, err)
		}
		if reply.Error != "" {
			return &RemoteError{NodeID: nodeID, Op: op, Msg: reply.Error}
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
	return c.cfg.Bus.Publish(ctx, MasterChannel, c.cfg.Signer.Sign(b))
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
	if err := c.cfg.Bus.Publish(ctx, NodeChannel(nodeID), c.cfg.Signer.Sign(b)); err != nil {
		return fmt.Errorf("send %s to node %s: %w", env.Type, nodeID, err)
	}
	return nil
}
