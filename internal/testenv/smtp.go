package testenv

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPServer is a small mail server on loopback that keeps what it is
// sent: enough of SMTP (RFC 5321) for a client, with TLS (implicit or
// STARTTLS) and AUTH PLAIN when started by StartSMTPTLS.
type SMTPServer struct {
	Addr string
	// Roots trusts the server's certificate, and CAFile holds it as PEM
	// (nil and "" without TLS).
	Roots  *x509.CertPool
	CAFile string

	tls      *tls.Config
	implicit bool
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	mails    []Mail
	wake     chan struct{}
}

// Mail is one message an SMTPServer took.
type Mail struct {
	From string
	To   []string
	Data string // headers and body, dot-unstuffed, with CRLF line ends
	TLS  bool   // it came over TLS
	User string // who authenticated, "" for no one
}

// StartSMTP starts a mail server without TLS; it stops at t's cleanup.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	return startSMTP(t, &SMTPServer{})
}

// StartSMTPTLS starts a mail server with a certificate for 127.0.0.1 that
// Roots trusts: with implicit, every connection starts with the TLS
// handshake; else it offers STARTTLS. Over TLS it takes AUTH PLAIN from
// anyone. It stops at t's cleanup.
func StartSMTPTLS(t testing.TB, implicit bool) *SMTPServer {
	t.Helper()
	c := NewCert(t)
	return startSMTP(t, &SMTPServer{Roots: c.Roots, CAFile: c.CAFile, implicit: implicit,
		tls: &tls.Config{Certificates: []tls.Certificate{c.Pair}, MinVersion: tls.VersionTLS12}})
}

func startSMTP(t testing.TB, s *SMTPServer) *SMTPServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr, s.ln, s.wake = ln.Addr().String(), ln, make(chan struct{})
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *SMTPServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			if s.implicit {
				c = tls.Server(c, s.tls)
			}
			s.serve(c)
		}()
	}
}

func (s *SMTPServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(format string, args ...any) { fmt.Fprintf(c, format+"\r\n", args...) }
	say("220 test ESMTP")
	var m Mail
	_, overTLS := c.(*tls.Conn)
	user := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO":
			say("250-test")
			if s.tls != nil && !overTLS {
				say("250-STARTTLS")
			}
			if overTLS {
				say("250-AUTH PLAIN")
			}
			say("250 8BITMIME")
		case "STARTTLS":
			if s.tls == nil || overTLS {
				say("502 not implemented")
				continue
			}
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if tc.Handshake() != nil {
				return
			}
			c, r, overTLS, user = tc, bufio.NewReader(tc), true, ""
		case "AUTH":
			// AUTH PLAIN <base64 of "\x00user\x00password">, over TLS only.
			f := strings.Fields(line)
			b, err := base64.StdEncoding.DecodeString(f[len(f)-1])
			parts := strings.Split(string(b), "\x00")
			if !overTLS || len(f) != 3 || !strings.EqualFold(f[1], "PLAIN") || err != nil || len(parts) != 3 {
				say("504 PLAIN over TLS only")
				continue
			}
			user = parts[1]
			say("235 ok")
		case "HELO", "NOOP":
			say("250 ok")
		case "RSET":
			m = Mail{}
			say("250 ok")
		case "MAIL":
			m = Mail{From: addrOf(line), TLS: overTLS, User: user}
			say("250 ok")
		case "RCPT":
			m.To = append(m.To, addrOf(line))
			say("250 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.Data = b.String()
			s.mu.Lock()
			s.mails = append(s.mails, m)
			close(s.wake)
			s.wake = make(chan struct{})
			s.mu.Unlock()
			m = Mail{}
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func addrOf(line string) string {
	if i, j := strings.Index(line, "<"), strings.LastIndex(line, ">"); i >= 0 && j > i {
		return line[i+1 : j]
	}
	return ""
}

// WaitFor waits until cond holds of the mails received and returns them;
// it fails t after timeout.
func (s *SMTPServer) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Mail) bool) []Mail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		all, wake := append([]Mail(nil), s.mails...), s.wake
		s.mu.Unlock()
		if cond(all) {
			return all
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("mail server: no %s within %v; got %d mails", what, timeout, len(all))
		}
	}
}

// Mails returns the mails received so far.
func (s *SMTPServer) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}
