package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crawlhub/crawlhub/server/alerts"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// missedBeats is how many heartbeats a node may miss before it is offline.
const missedBeats = 3

func (s *Server) offlineAfter() time.Duration { return missedBeats * s.cfg.Heartbeat }

// live answers the Caller's question "can this node be called?" from the
// heartbeats this master heard, falling back to the store for nodes it has
// not heard from (it may have just started).
func (s *Server) live(ctx context.Context, nodeID string) error {
	s.mu.Lock()
	last, ok := s.lastBeat[nodeID]
	s.mu.Unlock()
	if ok && time.Since(last) < s.offlineAfter() {
		return nil
	}
	n, err := s.store.Nodes().Get(ctx, nodeID)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no node has id %s: %w", nodeID, wire.ErrUnknownNode)
	}
	if err != nil {
		return err
	}
	if n.Status == store.NodeOnline && time.Since(n.LastSeen) < s.offlineAfter() {
		return nil
	}
	return &wire.OfflineError{NodeID: n.ID, Name: n.Name, LastSeen: n.LastSeen}
}

// event takes agents' events; it runs on the bus goroutine and must not
// block.
func (s *Server) event(env *wire.Envelope) {
	switch env.Type {
	case wire.EvHeartbeat:
		var hb wire.Heartbeat
		if err := json.Unmarshal(env.Payload, &hb); err != nil {
			s.log.Warn("dropped malformed heartbeat", "node_id", env.NodeID, "err", err)
			return
		}
		s.mu.Lock()
		_, known := s.lastBeat[env.NodeID]
		if hb.Stopping {
			delete(s.lastBeat, env.NodeID)
			delete(s.beats, env.NodeID)
		} else {
			s.lastBeat[env.NodeID] = time.Now()
			s.beats[env.NodeID] = hb.At
		}
		s.mu.Unlock()
		switch {
		case hb.Stopping:
			s.log.Info("node stopped", "node_id", env.NodeID, "name", hb.Name)
			s.hub.Broadcast(wsapi.ChannelNodes, NodeEvent{NodeID: env.NodeID, Name: hb.Name, Status: store.NodeOffline})
			s.nodeAlert(env.NodeID, hb.Name, store.NodeOffline, hb.At)
		case !known:
			s.log.Info("node online", "node_id", env.NodeID, "name", hb.Name)
			s.hub.Broadcast(wsapi.ChannelNodes, NodeEvent{NodeID: env.NodeID, Name: hb.Name, Status: store.NodeOnline})
			s.nodeAlert(env.NodeID, hb.Name, store.NodeOnline, hb.At)
		}
		s.mu.Lock()
		if !hb.Stopping {
			s.names[env.NodeID] = hb.Name
		}
		s.mu.Unlock()
		if hb.Metrics != nil && !hb.Stopping && store.ValidID(env.NodeID) {
			s.heardMetrics(env.NodeID, &hb)
		}
	case wire.EvTaskStatus:
		if !s.statusEvents.first(env.ID) {
			return // sent again by an agent after a failed publish; already passed on
		}
		s.prom.taskStatus(env.Payload)
		// Forwarded as it came: encoding it again would gain nothing.
		s.hub.Broadcast(wsapi.ChannelTasks, env.Payload)
		s.taskAlert(env.Payload)
	case wire.EvSpiderSynced:
		var ev wire.SpiderSynced
		if err := json.Unmarshal(env.Payload, &ev); err != nil || ev.SpiderID == "" {
			s.log.Warn("dropped malformed spider_synced event", "node_id", env.NodeID, "err", err)
			return
		}
		if ev.Error != "" {
			s.log.Warn("spider sync failed on a node", "node_id", env.NodeID, "spider_id", ev.SpiderID, "err", ev.Error)
		} else {
			s.log.Debug("spider synced", "node_id", env.NodeID, "spider_id", ev.SpiderID, "downloaded", ev.Downloaded)
		}
		s.mu.Lock()
		name := s.names[env.NodeID]
		s.mu.Unlock()
		s.hub.Broadcast(wsapi.ChannelSpiders, SpiderSyncEvent{SpiderSynced: ev, NodeID: env.NodeID, NodeName: name})
	case wire.EvScheduleChanged:
		var ev wire.ScheduleChanged
		if err := json.Unmarshal(env.Payload, &ev); err != nil || !store.ValidID(ev.ScheduleID) {
			s.log.Warn("dropped malformed schedule_changed event", "err", err)
			return
		}
		s.sched.Changed(ev.ScheduleID)
		s.hub.Broadcast(wsapi.ChannelSchedules, ScheduleEvent{Event: ev.Change, ScheduleID: ev.ScheduleID, Schedule: ev.Schedule})
	case wire.EvCredentialsRevoked:
		s.credentialsRevokedEvent(env)
	case wire.EvAudit:
		s.auditEvent(env.Payload)
	case wire.EvDelivery:
		s.deliveryEvent(env.Payload)
	case wire.EvScheduleFired:
		var ev wire.ScheduleFired
		if err := json.Unmarshal(env.Payload, &ev); err != nil || ev.ScheduleID == "" {
			s.log.Warn("dropped malformed schedule_fired event", "err", err)
			return
		}
		push := ScheduleEvent{Event: "fired", ScheduleID: ev.ScheduleID, Name: ev.Name, At: ev.At, TaskIDs: ev.TaskIDs, Reason: ev.Reason}
		if ev.Skipped {
			push.Event = "skipped"
			s.alerts.Notify(alerts.ScheduleSkipped(ev.ScheduleID, ev.Name, ev.At, ev.Reason))
		}
		s.hub.Broadcast(wsapi.ChannelSchedules, push)
	}
}

// forgetSilent tells this master's clients about nodes it stopped hearing
// from. Every master decides it from the heartbeats it hears itself, so
// each one's clients learn it without another message.
func (s *Server) forgetSilent() {
	if s.busDown() {
		return // no heartbeat can be heard: silence says nothing of the nodes
	}
	cutoff := time.Now().Add(-s.offlineAfter())
	var gone []NodeEvent
	var beats []time.Time
	s.mu.Lock()
	for id, last := range s.lastBeat {
		if last.Before(cutoff) {
			delete(s.lastBeat, id)
			gone = append(gone, NodeEvent{NodeID: id, Name: s.names[id], Status: store.NodeOffline})
			beats = append(beats, s.beats[id])
			delete(s.beats, id)
		}
	}
	s.mu.Unlock()
	for i, ev := range gone {
		s.hub.Broadcast(wsapi.ChannelNodes, ev)
		if s.silentInStore(ev.NodeID) {
			s.nodeAlert(ev.NodeID, ev.Name, store.NodeOffline, beats[i])
		}
	}
}

// watchNodes marks nodes offline in the store once they miss their beats.
// Every master does it; the update is idempotent.
func (s *Server) watchNodes(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.forgetSilent()
		if tick%5 == 0 {
			s.orphanedTasks(ctx)
		}
		stale, err := s.store.Nodes().MarkStale(ctx, store.Now().Add(-s.offlineAfter()))
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("could not check node heartbeats", "err", err)
			}
			continue
		}
		gone := 0
		for _, n := range stale {
			if s.heard(n.ID) {
				// Its heartbeats reach this master over the bus; only their
				// record in the store is behind (the store was away, or this
				// check waited for it): put the node back.
				s.log.Info("node's heartbeats were not recorded in the store; recording the last one heard", "node_id", n.ID, "name", n.Name)
				s.mu.Lock()
				last := s.lastBeat[n.ID]
				s.mu.Unlock()
				if err := s.store.Nodes().Touch(ctx, n.ID, last); err != nil && ctx.Err() == nil {
					s.log.Warn("could not record the node's heartbeat", "node_id", n.ID, "err", err)
				}
				continue
			}
			gone++
			s.log.Warn("node offline: missed its heartbeats", "node_id", n.ID, "name", n.Name, "last_seen", n.LastSeen)
		}
		if gone > 0 {
			s.orphanedTasks(ctx)
		}
	}
}

// heard reports whether this master has heard a heartbeat of node id
// within offlineAfter: then the node is alive, whatever the store says.
func (s *Server) heard(id string) bool {
	s.mu.Lock()
	last, ok := s.lastBeat[id]
	s.mu.Unlock()
	return ok && time.Since(last) < s.offlineAfter()
}

// orphanedTasks marks abnormal the running tasks whose node is offline:
// nobody will ever finish them. Their logs stay readable from the store.
func (s *Server) orphanedTasks(ctx context.Context) {
	running, _, err := s.store.Tasks().List(ctx, store.TaskFilter{Status: store.TaskRunning})
	if err != nil || len(running) == 0 {
		return
	}
	nodes, err := s.store.Nodes().List(ctx)
	if err != nil {
		return
	}
	byID := make(map[string]store.Node, len(nodes))
	for _, n := range nodes {
		byID[n.ID] = n
	}
	for _, t := range running {
		n, ok := byID[t.NodeID]
		if ok && n.Status == store.NodeOnline || s.heard(t.NodeID) {
			continue
		}
		name := t.NodeID
		if ok {
			name = n.Name + " (" + n.ID + ")"
		}
		t.Status, t.Finished = store.TaskAbnormal, store.Now()
		t.Reason = "node " + name + " went offline (missed its heartbeats) while the task ran"
		if n, err := s.store.Logs().LogLen(ctx, t.ID); err == nil {
			t.LogLines = n
		}
		if err := s.store.Tasks().UpdateIf(ctx, &t, store.TaskRunning); err != nil {
			if errors.Is(err, store.ErrStale) {
				continue // it ended meanwhile, or another master marked it
			}
			s.log.Warn("could not mark task abnormal", "task_id", t.ID, "err", err)
			continue
		}
		s.log.Warn("task abnormal: its node went offline", "task_id", t.ID, "node_id", t.NodeID)
		s.emitTaskStatus(ctx, &t)
		s.endLog(ctx, &t)
	}
}
