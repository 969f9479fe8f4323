package testenv

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// SMTPServer is a small mail server on loopback that keeps what it is
// sent: enough of SMTP (RFC 5321) for a client that does not need TLS or
// authentication.
type SMTPServer struct {
	Addr string

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	mails []Mail
	wake  chan struct{}
}

// Mail is one message an SMTPServer took.
type Mail struct {
	From string
	To   []string
	Data string // headers and body, dot-unstuffed, with CRLF line ends
}

// StartSMTP starts a mail server; it stops at t's cleanup.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), ln: ln, wake: make(chan struct{})}
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
			s.serve(c)
		}()
	}
}

func (s *SMTPServer) serve(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(format string, args ...any) { fmt.Fprintf(c, format+"\r\n", args...) }
	say("220 test ESMTP")
	var m Mail
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
			say("250 8BITMIME")
		case "HELO", "NOOP":
			say("250 ok")
		case "RSET":
			m = Mail{}
			say("250 ok")
		case "MAIL":
			m = Mail{From: addrOf(line)}
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
