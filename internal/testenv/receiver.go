package testenv

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Receiver is a webhook receiver on loopback, as a user would write one:
// it checks each delivery's signature (X-Crawlhub-Signature, the hex
// HMAC-SHA256 of the body under the secret) and answers 200, or 500 while
// it is told to fail.
type Receiver struct {
	URL string

	srv    *httptest.Server
	secret string

	mu      sync.Mutex
	failing bool
	all     []Received
	wake    chan struct{} // closed and replaced on each request
}

// Received is one request a Receiver got.
type Received struct {
	Event, Delivery, Signature string
	ContentType                string
	Body                       []byte
	// Valid: the signature is the body's under the receiver's secret.
	Valid bool
	// Status is what the receiver answered.
	Status int
}

// StartReceiver starts a receiver checking signatures under secret; it
// stops at t's cleanup.
func StartReceiver(t testing.TB, secret string) *Receiver {
	t.Helper()
	r := &Receiver{secret: secret, wake: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL + "/hook"
	t.Cleanup(r.srv.Close)
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	mac := hmac.New(sha256.New, []byte(r.secret))
	mac.Write(body)
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	got := Received{Event: req.Header.Get("X-Crawlhub-Event"), Delivery: req.Header.Get("X-Crawlhub-Delivery"),
		Signature: req.Header.Get("X-Crawlhub-Signature"), ContentType: req.Header.Get("Content-Type"), Body: body}
	got.Valid = hmac.Equal([]byte(got.Signature), []byte(want))
	r.mu.Lock()
	got.Status = http.StatusOK
	switch {
	case r.failing:
		got.Status = http.StatusInternalServerError
	case !got.Valid:
		got.Status = http.StatusUnauthorized
	}
	r.all = append(r.all, got)
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(got.Status)
	io.WriteString(w, http.StatusText(got.Status))
}

// Fail makes the receiver answer 500 (on) or answer again (off).
func (r *Receiver) Fail(on bool) {
	r.mu.Lock()
	r.failing = on
	r.mu.Unlock()
}

// All is every request received so far.
func (r *Receiver) All() []Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Received(nil), r.all...)
}

// Accepted is the requests answered 200.
func (r *Receiver) Accepted() []Received {
	var out []Received
	for _, g := range r.All() {
		if g.Status == http.StatusOK {
			out = append(out, g)
		}
	}
	return out
}

// WaitFor waits until cond holds of the requests received (checked at
// each request) and returns them; it fails t after timeout.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Received) bool) []Received {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		all, wake := append([]Received(nil), r.all...), r.wake
		r.mu.Unlock()
		if cond(all) {
			return all
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("webhook receiver: no %s within %v; got %d requests: %s", what, timeout, len(all), summary(all))
		}
	}
}

func summary(all []Received) string {
	s := ""
	for _, g := range all {
		s += "\n  " + g.Event + " " + g.Delivery + " " + http.StatusText(g.Status) + " " + string(g.Body)
	}
	return s
}
