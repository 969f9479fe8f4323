package alerts

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Payload is the body of a generic JSON delivery (format "json").
type Payload struct {
	Event    string     `json:"event"`
	Delivery string     `json:"delivery"`
	Time     time.Time  `json:"time"`
	Webhook  WebhookRef `json:"webhook"`
	// Text says what happened in a sentence, as a Slack delivery or a
	// mail does.
	Text     string    `json:"text"`
	Task     *Task     `json:"task,omitempty"`
	Node     *Node     `json:"node,omitempty"`
	Schedule *Schedule `json:"schedule,omitempty"`
}

// WebhookRef names the webhook a delivery is for.
type WebhookRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Slack is the body of a Slack-compatible delivery (format "slack").
type Slack struct {
	Text string `json:"text"`
}

// Mail is what an email delivery stores: its subject and plain-text body.
type Mail struct {
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// make builds the delivery of ev to w: its body is fixed now, so every
// attempt sends the same bytes under the same signature.
func (a *Alerts) make(w *store.Webhook, ev *Event, id string) (*store.Delivery, error) {
	text, url := describe(ev, w)
	var body any
	switch {
	case w.Kind == store.WebhookEmail:
		if url != "" {
			text += "\n\n" + url
		}
		body = Mail{Subject: "[crawlhub] " + subject(ev, w), Text: text + "\n"}
	case w.Format == store.FormatSlack:
		if url != "" {
			text += " <" + url + "|Open in crawlhub>"
		}
		body = Slack{Text: text}
	default:
		body = Payload{Event: ev.Name, Delivery: id, Time: ev.Time.UTC(), Webhook: WebhookRef{ID: w.ID, Name: w.Name},
			Text: text, Task: ev.Task, Node: ev.Node, Schedule: ev.Schedule}
	}
	p, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	now := store.Now()
	return &store.Delivery{ID: id, WebhookID: w.ID, Event: ev.Name, Payload: p, Status: store.DeliveryPending,
		Next: now, Created: now, Updated: now}, nil
}

// describe says what happened, in a sentence, and gives the dashboard's
// link to it ("" when the dashboard's address is not known).
func describe(ev *Event, w *store.Webhook) (text, url string) {
	switch {
	case ev.Task != nil:
		t := ev.Task
		what := "Task " + t.ID + " of spider " + orID(t.SpiderName, t.SpiderID)
		where := ""
		if t.NodeID != "" {
			where = " on node " + orID(t.NodeName, t.NodeID)
		}
		switch ev.Name {
		case store.EventTaskFinished:
			text = fmt.Sprintf("%s finished%s%s: %d log lines, %d items.", what, where, took(t), t.LogLines, t.ItemCount)
		case store.EventTaskFailed:
			text = fmt.Sprintf("%s failed (%s)%s%s", what, t.Status, where, took(t))
			if t.Reason != "" {
				text += ": " + t.Reason
			}
			text += "."
			if t.LogLevels != nil && t.LogLevels.Error > 0 {
				text += fmt.Sprintf(" Its log has %d error lines.", t.LogLevels.Error)
			}
		default:
			text = what + " was cancelled" + where
			if t.Reason != "" {
				text += ": " + t.Reason
			}
			text += "."
		}
		return text, t.URL
	case ev.Node != nil:
		n := ev.Node
		if n.Status == store.NodeOffline {
			text = "Node " + orID(n.Name, n.ID) + " went offline"
			if !n.LastSeen.IsZero() {
				text += "; its last heartbeat was at " + n.LastSeen.Format(time.RFC3339)
			}
			return text + ".", n.URL
		}
		return "Node " + orID(n.Name, n.ID) + " is online.", n.URL
	case ev.Schedule != nil:
		s := ev.Schedule
		text = "Schedule " + orID(s.Name, s.ID) + " skipped its fire at " + s.At.Format(time.RFC3339)
		if s.Reason != "" {
			text += ": " + s.Reason
		}
		return text + ".", s.URL
	}
	return "A test delivery from crawlhub to " + w.Kind + " " + w.Name + ": it works.", ""
}

// subject is a mail's subject: the event and what it is about.
func subject(ev *Event, w *store.Webhook) string {
	switch {
	case ev.Task != nil:
		return fmt.Sprintf("%s: spider %s, task %s", ev.Name, orID(ev.Task.SpiderName, ev.Task.SpiderID), ev.Task.ID)
	case ev.Node != nil:
		return ev.Name + ": node " + orID(ev.Node.Name, ev.Node.ID)
	case ev.Schedule != nil:
		return ev.Name + ": schedule " + orID(ev.Schedule.Name, ev.Schedule.ID)
	}
	return "test of " + w.Name
}

func orID(name, id string) string {
	if strings.TrimSpace(name) == "" {
		return id
	}
	return name
}

func took(t *Task) string {
	if t.Duration <= 0 {
		return ""
	}
	return " after " + (time.Duration(t.Duration * float64(time.Second))).Round(time.Second).String()
}
