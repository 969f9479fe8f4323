package bus

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/wire"
)

// On Redis Cluster the per-node and per-task channels (wire.Sharded) use
// sharded PubSub: SPUBLISH reaches only the shard that owns the channel's
// hash slot, where an ordinary PUBLISH is copied to every node of the
// cluster. Every other channel, and every channel on a single Redis or
// behind Sentinel, is ordinary PubSub.
//
// Redis takes one SSUBSCRIBE for channels of one slot only, and go-redis
// resubscribes a PubSub's sharded channels in one command after a
// reconnection, on the node that owns the slot of the first of them. So
// sharded subscriptions are grouped by slot: one PubSub (one connection)
// per slot in use, each with a receive goroutine of its own. A master
// follows as many slots as it has tasks watched (bounded by 16,384); an
// agent follows one, its node channel.

// sharded reports whether channel goes over sharded PubSub on this bus.
func (b *Redis) sharded(channel string) bool {
	return b.shards != nil && wire.Sharded(channel)
}

// split separates channels into ordinary and sharded ones.
func (b *Redis) split(channels []string) (ordinary, sharded []string) {
	for _, c := range channels {
		if b.sharded(c) {
			sharded = append(sharded, c)
		} else {
			ordinary = append(ordinary, c)
		}
	}
	return ordinary, sharded
}

func (b *Redis) publish(ctx context.Context, channel string, payload []byte) error {
	if b.sharded(channel) {
		return b.client.SPublish(ctx, channel, payload).Err()
	}
	if b.shards != nil {
		// An ordinary PUBLISH reaches every node over the cluster bus from
		// the node it was sent to; go-redis would send each to any node,
		// and two messages taking different paths could arrive out of
		// order. Sent always to the node owning the channel name's slot,
		// a channel keeps publish order.
		node, err := b.shards.cluster.MasterForKey(ctx, channel)
		if err != nil {
			return err
		}
		return node.Publish(ctx, channel, payload).Err()
	}
	return b.client.Publish(ctx, channel, payload).Err()
}

func (b *Redis) subscribe(ctx context.Context, channels []string) error {
	ordinary, sharded := b.split(channels)
	if len(ordinary) > 0 {
		if err := b.ps.Subscribe(ctx, ordinary...); err != nil {
			return err
		}
	}
	if len(sharded) > 0 {
		return b.shards.subscribe(ctx, sharded)
	}
	return nil
}

func (b *Redis) unsubscribe(ctx context.Context, channels []string) error {
	ordinary, sharded := b.split(channels)
	if len(ordinary) > 0 {
		if err := b.ps.Unsubscribe(ctx, ordinary...); err != nil {
			return err
		}
	}
	if len(sharded) > 0 {
		b.shards.unsubscribe(sharded)
	}
	return nil
}

// shardSubs holds the sharded subscriptions of one bus, one PubSub per
// hash slot.
type shardSubs struct {
	cluster   *redis.ClusterClient
	ctx       context.Context // the bus's: ends every receive goroutine at Close
	receive   func(ctx context.Context, ps *redis.PubSub)
	confirmed func(channel string) // a subscription is active

	mu     sync.Mutex
	slots  map[uint16]*slotSub
	closed bool
	wg     sync.WaitGroup // receive goroutines
}

type slotSub struct {
	ps       *redis.PubSub
	cancel   context.CancelFunc // ends its receive goroutine
	channels map[string]struct{}
	leaving  map[string]int // SUNSUBSCRIBEs sent, not yet confirmed
}

func newSlotSub(ps *redis.PubSub, cancel context.CancelFunc, channels []string) *slotSub {
	sub := &slotSub{ps: ps, cancel: cancel, channels: map[string]struct{}{}, leaving: map[string]int{}}
	for _, c := range channels {
		sub.channels[c] = struct{}{}
	}
	return sub
}

func newShardSubs(ctx context.Context, cluster *redis.ClusterClient, receive func(context.Context, *redis.PubSub), confirmed func(string)) *shardSubs {
	return &shardSubs{cluster: cluster, ctx: ctx, receive: receive, confirmed: confirmed, slots: map[uint16]*slotSub{}}
}

// subscribe sends SSUBSCRIBE for channels, one command per slot. It does
// not wait for the confirmations: the receive goroutines deliver them.
func (s *shardSubs) subscribe(ctx context.Context, channels []string) error {
	bySlot := map[uint16][]string{}
	for _, c := range channels {
		slot := hashSlot(c)
		bySlot[slot] = append(bySlot[slot], c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for slot, chs := range bySlot {
		sub := s.slots[slot]
		if sub != nil {
			for _, c := range chs {
				sub.channels[c] = struct{}{}
			}
			if err := sub.ps.SSubscribe(ctx, chs...); err != nil {
				return err
			}
			continue
		}
		// An empty PubSub connects on its first SSUBSCRIBE, to the node
		// that owns the slot of that channel. Its receive goroutine starts
		// only then: a receive on an unconnected PubSub would connect it
		// to any node.
		rctx, cancel := context.WithCancel(s.ctx)
		ps := s.cluster.SSubscribe(rctx)
		if err := ps.SSubscribe(ctx, chs...); err != nil {
			cancel()
			_ = ps.Close()
			return err
		}
		s.slots[slot] = newSlotSub(ps, cancel, chs)
		s.wg.Go(func() { s.receive(rctx, ps) })
	}
	return nil
}

// unsubscribe drops channels; a slot left with none closes its connection
// (which ends its subscriptions) rather than sending SUNSUBSCRIBE.
func (s *shardSubs) unsubscribe(channels []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range channels {
		slot := hashSlot(c)
		sub := s.slots[slot]
		if sub == nil {
			continue
		}
		delete(sub.channels, c)
		if len(sub.channels) > 0 {
			// Errors are those of a lost connection, after which the
			// channel is not resubscribed: go-redis forgot it already.
			sub.leaving[c]++
			_ = sub.ps.SUnsubscribe(context.Background(), c)
			continue
		}
		sub.cancel()
		_ = sub.ps.Close()
		delete(s.slots, slot)
	}
}

// moved handles a SUNSUBSCRIBE of channel on ps that this bus did not
// send: Redis ends the sharded subscriptions of a slot that leaves a node
// (resharding). The slot's connection, bound to the old owner, is closed,
// and its channels are subscribed again at the new owner.
func (s *shardSubs) moved(ps *redis.PubSub, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot := hashSlot(channel)
	sub := s.slots[slot]
	if s.closed || sub == nil || sub.ps != ps {
		return
	}
	if sub.leaving[channel] > 0 {
		// The confirmation of an Unsubscribe.
		if sub.leaving[channel]--; sub.leaving[channel] == 0 {
			delete(sub.leaving, channel)
		}
		return
	}
	if _, ok := sub.channels[channel]; !ok {
		return
	}
	sub.cancel()
	_ = sub.ps.Close()
	delete(s.slots, slot)
	channels := make([]string, 0, len(sub.channels))
	for c := range sub.channels {
		channels = append(channels, c)
	}
	s.wg.Go(func() { s.resubscribe(slot, channels) })
}

// resubscribe subscribes to channels, all of one slot that moved, until
// the slot's new owner confirms or the bus closes. The client's map of
// slots may be older than the move: a refusal (MOVED) makes it reload the
// map before the next try.
func (s *shardSubs) resubscribe(slot uint16, channels []string) {
	backoff := 50 * time.Millisecond
	for {
		if s.join(slot, channels, nil, nil, nil) {
			return
		}
		// Subscribed and confirmed before it is installed, without the
		// lock: the round trip must not hold up the other slots.
		rctx, cancel := context.WithCancel(s.ctx)
		ps := s.cluster.SSubscribe(rctx)
		err := ps.SSubscribe(rctx, channels...)
		for range channels {
			if err != nil {
				break
			}
			var m any
			m, err = ps.ReceiveTimeout(rctx, pingEvery)
			if sub, ok := m.(*redis.Subscription); err == nil && (!ok || sub.Kind != "ssubscribe") {
				err = fmt.Errorf("unexpected reply %v", m)
			}
		}
		if err == nil {
			s.join(slot, channels, rctx, ps, cancel) // given ps, always true
			// A Subscribe of one of them may be waiting.
			for _, c := range channels {
				s.confirmed(c)
			}
			return
		}
		cancel()
		_ = ps.Close()
		s.cluster.ReloadState(s.ctx)
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}

// join adds channels to the slot's subscription if there is one (it was
// subscribed to anew meanwhile, at the new owner); otherwise it installs
// ps, if given, as the slot's subscription. It reports whether the
// channels are taken care of (or the bus is closed); ps is closed if not
// installed.
func (s *shardSubs) join(slot uint16, channels []string, rctx context.Context, ps *redis.PubSub, cancel context.CancelFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.slots[slot]
	if s.closed || sub != nil {
		if ps != nil {
			cancel()
			_ = ps.Close()
		}
		if sub != nil {
			for _, c := range channels {
				sub.channels[c] = struct{}{}
			}
			// A failure here is a lost connection, which resubscribes.
			_ = sub.ps.SSubscribe(s.ctx, channels...)
		}
		return true
	}
	if ps == nil {
		return false
	}
	s.slots[slot] = newSlotSub(ps, cancel, channels)
	s.wg.Go(func() { s.receive(rctx, ps) })
	return true
}

// close ends every sharded subscription and waits for the receive
// goroutines.
func (s *shardSubs) close() error {
	s.mu.Lock()
	s.closed = true
	for slot, sub := range s.slots {
		sub.cancel()
		_ = sub.ps.Close()
		delete(s.slots, slot)
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// hashSlot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of the
// key, or of its hash tag (the part between the first "{" and the next
// "}", if not empty), modulo 16384.
func hashSlot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for k := 0; k < len(key); k++ {
		crc ^= uint16(key[k]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}
