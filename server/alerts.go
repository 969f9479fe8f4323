package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/crawlhub/crawlhub/server/alerts"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// newAlerts is the master's alert sender: every attempt's outcome goes to
// every master's subscribers of the webhooks channel, through the bus.
func (s *Server) newAlerts() *alerts.Alerts {
	// Nodes heard within the first missed-beats window were online before
	// this master started (or restarted): not news.
	s.nodeAlertsFrom = time.Now().Add(s.offlineAfter())
	ua := "crawlhub-webhook"
	if s.cfg.Version != "" {
		ua += "/" + s.cfg.Version
	}
	return alerts.New(alerts.Config{
		Store: s.store, Bus: s.bus, SMTP: s.cfg.SMTP, PublicURL: s.cfg.PublicURL,
		Retry: s.cfg.AlertRetry, Poll: s.cfg.AlertPoll, UserAgent: ua, Log: s.log,
		Published: func(ctx context.Context, d store.Delivery) {
			if err := s.caller.Emit(ctx, wire.EvDelivery, d); err != nil {
				s.log.Warn("webhook delivery outcome not published", "delivery_id", d.ID, "err", err)
			}
		},
	})
}

// taskAlert passes a task's status change, as every master hears it, to
// the alerts; it runs on the bus goroutine and does not block.
func (s *Server) taskAlert(payload json.RawMessage) {
	var ts wire.TaskStatus
	if err := json.Unmarshal(payload, &ts); err != nil || ts.TaskID == "" {
		return // the tasks channel's clients get it as it is; alerts need it whole
	}
	if ev, ok := alerts.TaskEvent(ts); ok {
		s.alerts.Notify(ev)
	}
}

// nodeAlert passes a node's coming or going to the alerts. beat is the
// time on the heartbeat that decided it, the same on every master. A node
// coming online is news only once this master has listened for a whole
// missed-beats window: before, it may simply have been online all along.
func (s *Server) nodeAlert(id, name, status string, beat time.Time) {
	if status == store.NodeOnline && time.Now().Before(s.nodeAlertsFrom) {
		return
	}
	s.alerts.Notify(alerts.NodeEvent(id, name, status, beat))
}

// silentInStore reports whether the store agrees that a node this master
// stopped hearing is silent: agents record each heartbeat there too, so a
// master cut off from the bus alone (the others still hear the node) does
// not raise an alert. A store that does not answer cannot say: the alert
// goes out.
func (s *Server) silentInStore(id string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := s.store.Nodes().Get(ctx, id)
	if err != nil {
		return true
	}
	return n.Status != store.NodeOnline || time.Since(n.LastSeen) >= s.offlineAfter()
}

// deliveryEvent forwards a delivery's outcome a master published to this
// master's subscribers of the webhooks channel.
func (s *Server) deliveryEvent(payload json.RawMessage) {
	var d store.Delivery
	if err := json.Unmarshal(payload, &d); err != nil || d.ID == "" {
		s.log.Warn("dropped malformed webhook delivery event", "err", err)
		return
	}
	s.hub.Broadcast(wsapi.ChannelWebhooks, payload)
}
