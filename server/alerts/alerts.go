// Package alerts tells people when something happens on the cluster: it
// turns a master's events (a task ended, a node came or went, a schedule
// skipped a fire) into deliveries to webhooks and email recipients,
// signs them, sends them, and retries them with backoff.
//
// Every master sees every event, so each delivery is made once: its id is
// derived from its webhook and its event, and the store refuses a second
// one with that id. Every attempt is claimed through the bus
// (wire.DeliveryClaimKey), never through the store (FerretDB's filtered
// updates are not atomic), so one master sends it. Deliveries waiting for
// an attempt are in the store: a master that restarts, or any other,
// takes them up.
package alerts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
)

// Config configures Alerts. Zero values mean the documented default.
type Config struct {
	Store store.Store
	// Bus claims each attempt (bus.Bus.Claim).
	Bus bus.Bus
	// SMTP is the mail server email channels send through; a zero Addr
	// means none (email channels then fail with an error saying so).
	SMTP SMTP
	// PublicURL is the dashboard's address as people reach it
	// ("https://crawlhub.example.com"); payloads link to it. Empty: no
	// links.
	PublicURL string
	// Published is told of every attempt's outcome (the server passes it
	// on to the webhooks channel). It must not block for long.
	Published func(ctx context.Context, d store.Delivery)
	// Retry is the wait before each attempt after the first: its length
	// plus one is the number of attempts. Nil means DefaultRetry.
	Retry []time.Duration
	// Poll is how often the store is asked for deliveries due for an
	// attempt (the retries of another master, or of one that stopped).
	// Zero means 10 s. A master retries its own failures on time anyway.
	Poll time.Duration
	// Timeout bounds one HTTP request or SMTP conversation. Zero means 10 s.
	Timeout time.Duration
	// Retention is how long final deliveries are kept. Zero means 30 days.
	Retention time.Duration
	// Senders is how many attempts may be in flight at once. Zero means 8.
	Senders int
	// Client sends the HTTP deliveries. Nil means a client that follows no
	// redirect, with Timeout.
	Client    *http.Client
	UserAgent string
	Log       *slog.Logger
}

// DefaultRetry is 8 attempts over about an hour: at once, then after 30 s,
// 1, 2, 5, 10, 20 and 30 minutes (68.5 minutes after the first attempt,
// the last one). docs/alerts.md says the same.
var DefaultRetry = []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
	10 * time.Minute, 20 * time.Minute, 30 * time.Minute}

// Queue sizes. Events wait for the loop, attempts for a sender; when
// either is full what does not fit is dropped (an event, with a warning)
// or left in the store for the next poll (an attempt): nothing blocks the
// bus goroutine that reports events.
const (
	eventQueue = 1024
	sendQueue  = 256
	// hooksTTL is how long the list of webhooks is kept between reads of
	// the store: a change made on another master applies within it.
	hooksTTL = 2 * time.Second
	// sweepEvery is how often final deliveries past Retention are deleted.
	sweepEvery = time.Hour
	// storeTimeout bounds the store calls of one event or attempt.
	storeTimeout = 10 * time.Second
	// dueBatch is how many due deliveries one poll takes.
	dueBatch = 100
)

// Alerts makes and sends deliveries. Notify is safe from any goroutine;
// Run does the work.
type Alerts struct {
	cfg    Config
	log    *slog.Logger
	events chan Event
	sends  chan store.Delivery
	// wake tells the loop of a retry due sooner than the next poll.
	wake chan time.Time

	mu       sync.Mutex
	hooks    []store.Webhook
	hooksAt  time.Time
	hooksGen int // bumped by Changed: a list read before it is stale
}

// New returns Alerts configured by cfg; Run starts it.
func New(cfg Config) *Alerts {
	if cfg.Retry == nil {
		cfg.Retry = DefaultRetry
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Senders <= 0 {
		cfg.Senders = 8
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Published == nil {
		cfg.Published = func(context.Context, store.Delivery) {}
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout: cfg.Timeout,
			// A redirect is an answer, not a new address to send the
			// body (and its signature) to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.UserAgent == "" {
		cfg.UserAgent = "crawlhub-webhook"
	}
	return &Alerts{cfg: cfg, log: cfg.Log, events: make(chan Event, eventQueue),
		sends: make(chan store.Delivery, sendQueue), wake: make(chan time.Time, 1)}
}

// Attempts is how many attempts a delivery gets.
func (a *Alerts) Attempts() int { return len(a.cfg.Retry) + 1 }

// Notify queues ev; it never blocks. An event that does not fit (the
// queue is full: the store is far behind) is dropped with a warning.
func (a *Alerts) Notify(ev Event) {
	select {
	case a.events <- ev:
	default:
		a.log.Warn("alert event dropped: too many waiting", "event", ev.Name, "key", ev.Key)
	}
}

// Changed says the webhooks changed on this master: the next event reads
// them again.
func (a *Alerts) Changed() {
	a.mu.Lock()
	a.hooksGen++
	a.hooks = nil
	a.mu.Unlock()
}

// Run makes and sends deliveries until ctx ends, then waits for the
// attempts in flight.
func (a *Alerts) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range a.cfg.Senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.sender(ctx)
		}()
	}
	defer wg.Wait()
	poll := time.NewTimer(0) // at start: what was left due before a restart
	defer poll.Stop()
	pollAt := time.Now()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	a.sweep(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-a.events:
			a.handle(ctx, ev)
		case at := <-a.wake:
			if at.Before(pollAt) {
				poll.Reset(time.Until(at))
				pollAt = at
			}
		case <-poll.C:
			a.pollDue(ctx)
			pollAt = time.Now().Add(a.cfg.Poll)
			poll.Reset(a.cfg.Poll)
		case <-sweep.C:
			a.sweep(ctx)
		}
	}
}

func (a *Alerts) sender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-a.sends:
			a.attempt(ctx, d, a.Attempts())
		}
	}
}

// queue hands d to a sender if one can take it; if none can, d stays due
// in the store and a poll finds it.
func (a *Alerts) queue(d store.Delivery) {
	select {
	case a.sends <- d:
	default:
	}
}

// retryAt tells the loop a delivery this master failed is due at at.
func (a *Alerts) retryAt(at time.Time) {
	select {
	case a.wake <- at:
	default:
		// A wake is already waiting; the regular poll catches the rest.
	}
}

func (a *Alerts) pollDue(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	due, err := a.cfg.Store.Webhooks().Due(sctx, store.Now(), dueBatch)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("could not look for webhook deliveries to retry; trying at the next poll", "err", err)
		}
		return
	}
	for _, d := range due {
		a.queue(d)
	}
}

func (a *Alerts) sweep(ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	n, err := a.cfg.Store.Webhooks().DeleteDeliveriesBefore(sctx, store.Now().Add(-a.cfg.Retention))
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Warn("old webhook deliveries not deleted; retrying at the next sweep", "err", err)
	case n > 0:
		a.log.Info("old webhook deliveries deleted", "count", n)
	}
}

// webhooks returns the webhooks, from a list at most hooksTTL old.
func (a *Alerts) webhooks(ctx context.Context) ([]store.Webhook, error) {
	a.mu.Lock()
	hooks, at, gen := a.hooks, a.hooksAt, a.hooksGen
	a.mu.Unlock()
	if hooks != nil && time.Since(at) < hooksTTL {
		return hooks, nil
	}
	hooks, err := a.cfg.Store.Webhooks().List(ctx)
	if err != nil {
		return nil, err
	}
	if hooks == nil {
		hooks = []store.Webhook{}
	}
	a.mu.Lock()
	if a.hooksGen == gen {
		a.hooks, a.hooksAt = hooks, time.Now()
	}
	a.mu.Unlock()
	return hooks, nil
}

// wants reports whether w takes ev: enabled, subscribed to its event, and
// (for events of a spider's task or schedule) not filtered out.
func wants(w *store.Webhook, ev *Event) bool {
	if !w.Enabled || !slices.Contains(w.Events, ev.Name) {
		return false
	}
	return len(w.SpiderIDs) == 0 || ev.SpiderID == "" || slices.Contains(w.SpiderIDs, ev.SpiderID)
}

// handle makes ev's deliveries, one per webhook that wants it, and queues
// their first attempt.
func (a *Alerts) handle(ctx context.Context, ev Event) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	hooks, err := a.webhooks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("alert not sent: the webhooks could not be read", "event", ev.Name, "key", ev.Key, "err", err)
		}
		return
	}
	var targets []store.Webhook
	for i := range hooks {
		if wants(&hooks[i], &ev) {
			targets = append(targets, hooks[i])
		}
	}
	if len(targets) == 0 {
		return
	}
	ev = ev.own()
	if err := a.complete(ctx, &ev); err != nil {
		a.log.Warn("alert event incomplete; sending what is known", "event", ev.Name, "key", ev.Key, "err", err)
	}
	// The spider is known now: look again at the filters.
	for i := range targets {
		w := &targets[i]
		if !wants(w, &ev) {
			continue
		}
		d, err := a.make(w, &ev, DeliveryID(w.ID, ev.Key))
		if err != nil {
			a.log.Error("webhook delivery not made", "webhook_id", w.ID, "event", ev.Name, "err", err)
			continue
		}
		err = a.cfg.Store.Webhooks().CreateDelivery(ctx, d)
		switch {
		case errors.Is(err, store.ErrConflict):
			// Another master made it and sends it (or, if it cannot, a
			// poll of any master finds it due).
			a.log.Debug("webhook delivery made by another master", "delivery_id", d.ID)
			continue
		case err != nil:
			a.log.Warn("webhook delivery not stored; it is lost unless another master stores it", "webhook_id", w.ID, "event", ev.Name, "err", err)
			continue
		}
		a.queue(*d)
	}
}

// DeliveryID is the id of the delivery of the event with key to webhook
// webhookID: the same on every master, so the store makes it once.
func DeliveryID(webhookID, key string) string {
	h := sha256.Sum256([]byte(webhookID + "\x00" + key))
	return hex.EncodeToString(h[:12])
}
