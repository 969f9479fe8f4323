package alerts_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server/alerts"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// testMail sends a test mail through cfg and returns its delivery.
func testMail(t *testing.T, cfg alerts.SMTP) *store.Delivery {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(ctx)
	b := bus.NewMemoryBroker().Connect(func(string, []byte) {})
	defer b.Close()
	cfg.From = "crawlhub@example.com"
	a := alerts.New(alerts.Config{Store: st, Bus: b, SMTP: cfg, Timeout: wait, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	now := store.Now()
	w := store.Webhook{ID: store.NewID(), Name: "on call", Kind: store.WebhookEmail, Enabled: true, Format: store.FormatJSON,
		Recipients: []string{"ops@example.com"}, Events: []string{store.EventTaskFailed}, Created: now, Updated: now}
	if err := st.Webhooks().Create(ctx, &w); err != nil {
		t.Fatal(err)
	}
	d, err := a.Test(ctx, &w)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func oneMail(ms []testenv.Mail) bool { return len(ms) >= 1 }

// Mail servers on port 465 and many relays speak TLS from the first byte;
// the password goes only inside it.
func TestMailOverImplicitTLS(t *testing.T) {
	srv := testenv.StartSMTPTLS(t, true)
	d := testMail(t, alerts.SMTP{Addr: srv.Addr, TLS: alerts.TLSImplicit, RootCAs: srv.Roots, Username: "crawlhub", Password: "pw"})
	if d.Status != store.DeliveryDelivered {
		t.Fatalf("mail over implicit TLS: %s (%s)", d.Status, d.LastError)
	}
	m := srv.WaitFor(t, wait, "the mail", oneMail)[0]
	if !m.TLS || m.User != "crawlhub" || m.To[0] != "ops@example.com" {
		t.Fatalf("mail %+v: want it over TLS from crawlhub", m)
	}
}

// A server that offers STARTTLS gets it, in auto mode and when required.
func TestMailOverSTARTTLS(t *testing.T) {
	for _, mode := range []string{"", alerts.TLSAuto, alerts.TLSStartTLS} {
		srv := testenv.StartSMTPTLS(t, false)
		d := testMail(t, alerts.SMTP{Addr: srv.Addr, TLS: mode, RootCAs: srv.Roots, Username: "crawlhub", Password: "pw"})
		if d.Status != store.DeliveryDelivered {
			t.Fatalf("mode %q: %s (%s)", mode, d.Status, d.LastError)
		}
		if m := srv.WaitFor(t, wait, "the mail", oneMail)[0]; !m.TLS || m.User != "crawlhub" {
			t.Fatalf("mode %q: mail %+v: want it over TLS from crawlhub", mode, m)
		}
	}
}

// Required STARTTLS refuses a server without it, and an untrusted
// certificate is refused: nothing is sent, and the delivery says why.
func TestMailRefusesWhatIsNotSafe(t *testing.T) {
	plain := testenv.StartSMTP(t)
	d := testMail(t, alerts.SMTP{Addr: plain.Addr, TLS: alerts.TLSStartTLS})
	if d.Status != store.DeliveryFailed || !strings.Contains(d.LastError, "does not offer STARTTLS") {
		t.Errorf("required STARTTLS to a server without it: %s (%s)", d.Status, d.LastError)
	}
	for _, implicit := range []bool{true, false} {
		srv := testenv.StartSMTPTLS(t, implicit)
		mode := map[bool]string{true: alerts.TLSImplicit, false: alerts.TLSStartTLS}[implicit]
		d := testMail(t, alerts.SMTP{Addr: srv.Addr, TLS: mode}) // the system's roots do not know the test CA
		if d.Status != store.DeliveryFailed || !strings.Contains(d.LastError, "certificate") {
			t.Errorf("%s to an untrusted certificate: %s (%s)", mode, d.Status, d.LastError)
		}
		if n := len(srv.Mails()); n != 0 {
			t.Errorf("%s to an untrusted certificate: the server got %d mails", mode, n)
		}
	}
	if n := len(plain.Mails()); n != 0 {
		t.Errorf("the server without STARTTLS got %d mails", n)
	}
}

func TestCheckTLS(t *testing.T) {
	for _, ok := range []string{"", "auto", "implicit", "starttls"} {
		if err := alerts.CheckTLS(ok); err != nil {
			t.Errorf("CheckTLS(%q): %v", ok, err)
		}
	}
	if err := alerts.CheckTLS("ssl"); err == nil || !strings.Contains(err.Error(), "implicit") {
		t.Errorf("CheckTLS(ssl) = %v: want an error naming the modes", err)
	}
}
