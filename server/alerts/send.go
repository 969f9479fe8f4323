package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// Headers of an HTTP delivery. The signature is GitHub's shape:
// "sha256=" and the hex HMAC-SHA256 of the exact body under the webhook's
// secret.
const (
	HeaderSignature = "X-Crawlhub-Signature"
	HeaderEvent     = "X-Crawlhub-Event"
	HeaderDelivery  = "X-Crawlhub-Delivery"
)

// maxResponse bounds what is read of a receiver's answer: enough to keep
// the connection reusable and to quote the start of an error.
const maxResponse = 64 << 10

// Sign is the value of X-Crawlhub-Signature for body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Test makes a test delivery to w and attempts it now, once (a test is
// not retried: the person who asked is looking at its outcome), and
// returns the delivery with that outcome.
func (a *Alerts) Test(ctx context.Context, w *store.Webhook) (*store.Delivery, error) {
	ev := Event{Name: store.EventTest, Time: store.Now()}
	d, err := a.make(w, &ev, store.NewID())
	if err != nil {
		return nil, err
	}
	// Not due for the polls: this call makes its one attempt. Only if it
	// cannot (the bus or the store failed) does a poll try, an hour on.
	d.Next = d.Created.Add(time.Hour)
	if err := a.cfg.Store.Webhooks().CreateDelivery(ctx, d); err != nil {
		return nil, err
	}
	if out := a.attempt(ctx, *d, 1); out != nil {
		return out, nil
	}
	// Claimed by no one else (a fresh id): only the store can have failed.
	return a.cfg.Store.Webhooks().GetDelivery(ctx, d.ID)
}

// attempt makes the next attempt of d if this master wins its claim and d
// is still due as it was read, records the outcome and returns it (nil
// when it made no attempt). attempts is how many d gets in all.
func (a *Alerts) attempt(ctx context.Context, d store.Delivery, attempts int) *store.Delivery {
	log := a.log.With("delivery_id", d.ID, "webhook_id", d.WebhookID, "event", d.Event)
	won, err := a.cfg.Bus.Claim(ctx, wire.DeliveryClaimKey(d.ID, d.Attempts), wire.DeliveryClaimTTL)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("webhook delivery not attempted: the bus is unavailable; retrying at the next poll", "err", err)
		}
		return nil
	}
	if !won {
		return nil // another master makes this attempt
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	// What was read may be old (a poll's list): read it again now that the
	// attempt is this master's alone.
	cur, err := a.cfg.Store.Webhooks().GetDelivery(sctx, d.ID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			log.Warn("webhook delivery not attempted: the store is unavailable", "err", err)
		}
		return nil
	}
	if store.DeliveryDone(cur.Status) || cur.Attempts != d.Attempts {
		return nil
	}
	d = *cur
	w, err := a.cfg.Store.Webhooks().Get(sctx, d.WebhookID)
	var code int
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = errors.New("the webhook was deleted")
		attempts = 0 // no more
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("webhook delivery not attempted: the store is unavailable", "err", err)
		}
		return nil
	case !w.Enabled && d.Event != store.EventTest:
		err = errors.New("the webhook is disabled")
		attempts = 0
	case w.Kind == store.WebhookEmail:
		err = a.sendMail(ctx, w, &d)
	default:
		code, err = a.post(ctx, w, &d)
	}
	d.Attempts++
	d.Response, d.Updated = code, store.Now()
	switch {
	case err == nil:
		d.Status, d.LastError = store.DeliveryDelivered, ""
		log.Info("webhook delivered", "attempt", d.Attempts, "response", code)
	case d.Attempts >= attempts:
		d.Status, d.LastError = store.DeliveryFailed, err.Error()
		log.Warn("webhook delivery failed; no more attempts", "attempt", d.Attempts, "err", err)
	default:
		d.Status, d.LastError = store.DeliveryRetrying, err.Error()
		d.Next = d.Updated.Add(a.cfg.Retry[min(d.Attempts-1, len(a.cfg.Retry)-1)])
		log.Info("webhook delivery failed; retrying", "attempt", d.Attempts, "next", d.Next, "err", err)
	}
	// The outcome is recorded even if ctx ended during the attempt.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer rcancel()
	if err := a.cfg.Store.Webhooks().UpdateDelivery(rctx, &d); err != nil && !errors.Is(err, store.ErrNotFound) {
		// The claim expires and another attempt is made then.
		log.Warn("outcome of a webhook delivery not recorded", "err", err)
	}
	if d.Status == store.DeliveryRetrying {
		a.retryAt(d.Next)
	}
	pub := d
	pub.Payload = nil
	a.cfg.Published(rctx, pub)
	return &d
}

// post sends d to w's URL, signed, and says what the receiver answered:
// anything but 2xx is a failure.
func (a *Alerts) post(ctx context.Context, w *store.Webhook, d *store.Delivery) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", a.cfg.UserAgent)
	req.Header.Set(HeaderEvent, d.Event)
	req.Header.Set(HeaderDelivery, d.ID)
	req.Header.Set(HeaderSignature, Sign(w.Secret, d.Payload))
	resp, err := a.cfg.Client.Do(req)
	if err != nil {
		// The URL (and any credentials in it) stays out of the error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("request failed: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	msg := fmt.Sprintf("the receiver answered %s", resp.Status)
	if snippet := quote(body); snippet != "" {
		msg += ": " + snippet
	}
	return resp.StatusCode, errors.New(msg)
}

// quote is the start of a receiver's answer, for the delivery's error.
func quote(body []byte) string {
	const most = 200
	s := strings.TrimSpace(string(body))
	if !utf8.ValidString(s) {
		return ""
	}
	if len(s) > most {
		cut := most
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
