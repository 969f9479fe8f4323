package alerts

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// SMTP is the mail server email channels send through.
type SMTP struct {
	// Addr is host:port ("smtp.example.com:587"); empty means no mail.
	Addr string
	// From is the sender's address ("crawlhub@example.com").
	From string
	// Username and Password authenticate (PLAIN), only over TLS (or to a
	// server on loopback); an empty Username means no authentication.
	Username, Password string
	// TLS is how the connection is encrypted: TLSAuto (or empty),
	// TLSImplicit or TLSStartTLS.
	TLS string
	// RootCAs are the authorities the server's certificate is checked
	// against; nil means the system's.
	RootCAs *x509.CertPool
}

// The ways a mail server's connection is encrypted (SMTP.TLS).
const (
	// TLSAuto is TLS from the first byte on port 465, else STARTTLS when
	// the server offers it.
	TLSAuto = "auto"
	// TLSImplicit is TLS from the first byte (SMTPS, RFC 8314), on any port.
	TLSImplicit = "implicit"
	// TLSStartTLS is STARTTLS, required: a server that does not offer it
	// is refused, so nothing is ever sent in the clear.
	TLSStartTLS = "starttls"
)

// CheckTLS says whether mode is a TLS mode SMTP knows ("" is TLSAuto).
func CheckTLS(mode string) error {
	switch mode {
	case "", TLSAuto, TLSImplicit, TLSStartTLS:
		return nil
	}
	return fmt.Errorf("unknown TLS mode %q: want %s, %s or %s", mode, TLSAuto, TLSImplicit, TLSStartTLS)
}

// implicitTLS says whether the connection to s starts with a TLS handshake.
func (s SMTP) implicitTLS() bool {
	if s.TLS == TLSImplicit {
		return true
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	return (s.TLS == "" || s.TLS == TLSAuto) && port == "465"
}

func (s SMTP) tlsConfig(host string) *tls.Config {
	return &tls.Config{ServerName: host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
}

// ErrNoSMTP is the error of an email delivery on a master without a mail
// server.
var ErrNoSMTP = errors.New("this master has no mail server: start it with --smtp-addr and --smtp-from")

// sendMail sends d (a Mail) to w's recipients: over TLS as cfg.TLS says,
// authentication when configured, the whole conversation within the
// timeout.
func (a *Alerts) sendMail(ctx context.Context, w *store.Webhook, d *store.Delivery) error {
	cfg := a.cfg.SMTP
	if cfg.Addr == "" || cfg.From == "" {
		return ErrNoSMTP
	}
	var m Mail
	if err := json.Unmarshal(d.Payload, &m); err != nil {
		return fmt.Errorf("the delivery is not a mail: %w", err)
	}
	msg, err := message(cfg.From, w.Recipients, &m, d)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail server address %q: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("mail server: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	// A cancelled ctx ends the conversation at once, not at the deadline.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if cfg.implicitTLS() {
		tc := tls.Client(conn, cfg.tlsConfig(host))
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("mail server: TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail server: %w", err)
	}
	defer c.Close()
	if err := converse(c, host, cfg, w.Recipients, msg); err != nil {
		return fmt.Errorf("mail server: %w", err)
	}
	return nil
}

func converse(c *smtp.Client, host string, cfg SMTP, to []string, msg []byte) error {
	if err := c.Hello("crawlhub"); err != nil {
		return err
	}
	if _, done := c.TLSConnectionState(); !done {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(cfg.tlsConfig(host)); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		} else if cfg.TLS == TLSStartTLS {
			return errors.New("the server does not offer STARTTLS, which --smtp-tls starttls requires; nothing was sent")
		}
	}
	if cfg.Username != "" {
		// PlainAuth itself refuses to send the password in the clear to
		// anything but loopback.
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(cfg.From); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("recipient %s: %w", r, err)
		}
	}
	wc, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := wc.Write(msg); err != nil {
		return err
	}
	if err := wc.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message is the mail of m: plain text, UTF-8, headers encoded.
func message(from string, to []string, m *Mail, d *store.Delivery) ([]byte, error) {
	if len(to) == 0 {
		return nil, errors.New("the channel has no recipients")
	}
	for _, addr := range append([]string{from}, to...) {
		if _, err := mail.ParseAddress(addr); err != nil || strings.ContainsAny(addr, "\r\n") {
			return nil, fmt.Errorf("address %q is not valid", addr)
		}
	}
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from)
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+d.ID+"."+fmt.Sprint(d.Attempts)+"@crawlhub>")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "8bit")
	header(HeaderEvent, d.Event)
	header(HeaderDelivery, d.ID)
	b.WriteString("\r\n")
	// smtp's data writer stuffs leading dots itself.
	for line := range strings.Lines(m.Text) {
		b.WriteString(strings.TrimRight(line, "\r\n") + "\r\n")
	}
	return b.Bytes(), nil
}
