package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
)

// ResponderConfig configures a Responder. Zero values mean the documented
// default.
type ResponderConfig struct {
	NodeID string
	Bus    Publisher
	// Workers serve requests concurrently. Zero means 16.
	Workers int
	// Queue bounds the requests waiting for a worker; when it is full new
	// requests are refused with an error reply. Zero means 4096.
	Queue int
	// Signer signs what the Responder publishes and checks the requests
	// it receives; nil is the insecure bus (no cluster secret).
	Signer *Signer
	Log    *slog.Logger
}

// Responder is the agent's end: it serves requests arriving on its
// NodeChannel and publishes replies and events on MasterChannel.
type Responder struct {
	cfg    ResponderConfig
	node   Node
	nextID func() string
	queue  chan *Envelope
}

// NewResponder returns a Responder serving node's operations; Run it and
// feed it every NodeChannel message with Handle.
func NewResponder(cfg ResponderConfig, node Node) *Responder {
	if cfg.Workers == 0 {
		cfg.Workers = 16
	}
	if cfg.Queue == 0 {
		cfg.Queue = 4096
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Responder{cfg: cfg, node: node, nextID: newIDs(), queue: make(chan *Envelope, cfg.Queue)}
}

// Handle takes one message from the node's channel. It never blocks: a
// request that finds the queue full is dropped with a warning, and its
// caller gets its deadline error. With a cluster secret, unsigned or
// badly signed requests, and requests addressed to another node (a
// signed one replayed onto this node's channel), are dropped unanswered,
// with a warning at most every DropLogEvery.
func (r *Responder) Handle(payload []byte) {
	payload, ok := r.cfg.Signer.Accept(NodeChannel(r.cfg.NodeID), payload)
	if !ok {
		return
	}
	env := new(Envelope)
	if err := json.Unmarshal(payload, env); err != nil {
		r.cfg.Log.Warn("dropped malformed request", "err", err, "size", len(payload), "node_id", r.cfg.NodeID)
		return
	}
	if r.cfg.Signer != nil && env.NodeID != r.cfg.NodeID {
		r.cfg.Signer.drops.warn(r.cfg.Log, "dropped a request addressed to another node", "type", env.Type, "id", env.ID, "to", env.NodeID)
		return
	}
	select {
	case r.queue <- env:
	default:
		r.cfg.Log.Warn("request queue full; dropped request", "type", env.Type, "id", env.ID, "node_id", r.cfg.NodeID)
	}
}

// Run serves requests until ctx ends, then waits for the handlers in
// flight.
func (r *Responder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case env := <-r.queue:
					r.serve(ctx, env)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (r *Responder) serve(ctx context.Context, env *Envelope) {
	op, ok := operations[env.Type]
	if !ok {
		r.cfg.Log.Warn("dropped request of unknown type", "type", env.Type, "id", env.ID, "node_id", r.cfg.NodeID)
		// Answer anyway: a caller waiting on it learns at once.
		r.reply(ctx, env, nil, fmt.Errorf("unknown operation %q", env.Type))
		return
	}
	out, err := op.serve(ctx, r.node, env.Payload)
	if err != nil {
		r.cfg.Log.Warn("request failed", "type", env.Type, "id", env.ID, "err", err, "node_id", r.cfg.NodeID)
	}
	if op.reply {
		r.reply(ctx, env, out, err)
	}
}

func (r *Responder) reply(ctx context.Context, req *Envelope, out any, herr error) {
	rep := &Envelope{ID: r.nextID(), Type: req.Type, NodeID: r.cfg.NodeID, Re: req.ID}
	if herr != nil {
		rep.Error = herr.Error()
	} else if out != nil {
		p, err := json.Marshal(out)
		if err != nil {
			rep.Error = "encode reply: " + err.Error()
		} else {
			rep.Payload = p
		}
	}
	if err := r.publish(ctx, rep); err != nil {
		r.cfg.Log.Warn("reply not sent", "type", req.Type, "id", req.ID, "err", err, "node_id", r.cfg.NodeID)
	}
}

// Emit publishes an event (heartbeat, task_status, spider_synced) on
// MasterChannel.
func (r *Responder) Emit(ctx context.Context, typ string, payload any) error {
	msg, err := r.Event(typ, payload)
	if err != nil {
		return err
	}
	return r.cfg.Bus.Publish(ctx, MasterChannel, msg)
}

// Event is the message Emit publishes, signed, for a caller that publishes
// it on MasterChannel itself: one that may send it again, with the same
// envelope id, after a failed publish.
func (r *Responder) Event(typ string, payload any) ([]byte, error) {
	env := &Envelope{ID: r.nextID(), Type: typ, NodeID: r.cfg.NodeID}
	p, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", typ, err)
	}
	env.Payload = p
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return r.cfg.Signer.Sign(b), nil
}

func (r *Responder) publish(ctx context.Context, env *Envelope) error {
	b, err := json.Marshal(env)
	if err != nil {
		return err
	}
	return r.cfg.Bus.Publish(ctx, MasterChannel, r.cfg.Signer.Sign(b))
}
