package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The HTTP server's limits. They depend on each other and on what the
// routes do, so they are decided here together (docs/security.md, "The
// HTTP server", says why each is what it is).
const (
	// readHeaderTimeout bounds reading a request's headers: a client that
	// opens connections and trickles headers (slowloris) holds each for
	// no longer than this.
	readHeaderTimeout = 10 * time.Second
	// readTimeout bounds reading a whole request, body included. JSON
	// bodies are at most 1 MiB (maxJSONBody), which takes seconds even on
	// a slow link; uploads get uploadReadTimeout instead (bodyDeadline).
	readTimeout = 60 * time.Second
	// uploadReadTimeout bounds reading a spider upload: 100 MiB (the
	// default --max-archive) at 64 KiB/s, a slow uplink, takes 27 minutes.
	uploadReadTimeout = 30 * time.Minute
	// idleTimeout closes a keep-alive connection that sends no request.
	idleTimeout = 120 * time.Second
	// writeStall bounds one write of a response: a client must take each
	// piece within this. http.Server's WriteTimeout stays zero, because it
	// bounds a whole response from its request's start, and an export of
	// millions of items or a WebSocket rightly lasts for hours; a client
	// that stops reading is what must be cut, and this cuts it.
	// (A WebSocket has its own per-write deadline once upgraded:
	// hub.Config.WriteWait.)
	writeStall = 60 * time.Second
)

// contentSecurityPolicy is what the dashboard needs and nothing more: its
// scripts and styles are files of its own origin (web/build.mjs makes no
// inline script or style; web/src/index.html carries the same policy in
// a meta tag), its data comes from /api and /ws on this origin (Chromium
// and Firefox count ws: and wss: to the same host as 'self'), and its
// icon is a data: URL. frame-ancestors 'none' keeps the dashboard out of
// other sites' frames (clickjacking); a meta tag cannot say that.
const contentSecurityPolicy = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; " +
	"script-src 'self'; base-uri 'self'; form-action 'none'; object-src 'none'; frame-ancestors 'none'"

// hsts tells browsers to use HTTPS only for this host for a year. Sent
// only under TLS: over plain HTTP browsers ignore it, and a server that
// later drops TLS would otherwise lock its users out.
const hsts = "max-age=31536000"

// securityHeaders sets the headers every response carries, API errors and
// the dashboard alike.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if s.tls != nil {
			h.Set("Strict-Transport-Security", hsts)
		}
		return next(c)
	}
}

// deadlines applies the per-request read and write limits on top of the
// http.Server's: a spider upload gets uploadReadTimeout to arrive, and
// every write of the response must progress within writeStall; the store
// calls of one request share one storeDeadline once the store is away
// (store_deadline.go). (The read
// deadline bounds reading the request only: net/http lifts it once the
// body is read, so a long response is not cut by it.)
func (s *Server) deadlines(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		w := c.Response().Writer
		rc := http.NewResponseController(w)
		if isUpload(c) {
			_ = rc.SetReadDeadline(time.Now().Add(uploadReadTimeout))
		}
		// A deadline left by the connection's previous response must not
		// cut this one.
		_ = rc.SetWriteDeadline(time.Time{})
		c.Response().Writer = &stallWriter{ResponseWriter: w, rc: rc}
		c.SetRequest(c.Request().WithContext(withStoreOutage(c.Request().Context())))
		return next(c)
	}
}

// isUpload reports whether c is a route that takes a spider archive.
func isUpload(c echo.Context) bool {
	r := c.Request()
	return (r.Method == http.MethodPost && c.Path() == "/api/spiders") ||
		(r.Method == http.MethodPut && c.Path() == "/api/spiders/:id")
}

// stallWriter gives each write of a response at least 3/4 of writeStall
// to complete. The deadline is moved at most every writeStall/4: under
// HTTP/2 moving it is a message to the connection's goroutine, too dear
// for every small write of an export.
type stallWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	renewAt time.Time // when the deadline is next moved
}

func (w *stallWriter) Write(b []byte) (int, error) {
	if now := time.Now(); now.After(w.renewAt) {
		_ = w.rc.SetWriteDeadline(now.Add(writeStall))
		w.renewAt = now.Add(writeStall / 4)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and so echo's Flush and Hijack)
// reach the connection underneath.
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpServer is the http.Server Run serves with.
func (s *Server) httpServer() *http.Server {
	srv := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		// WriteTimeout stays zero: see writeStall.
		// Handshake failures from scanners and the like are noise, not news.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if s.tls != nil {
		// ServeTLS adds "h2" to NextProtos: HTTP/2 for the API and the
		// dashboard. WebSockets still upgrade over HTTP/1.1 connections
		// of their own, as browsers open them.
		srv.TLSConfig = s.tls
	}
	return srv
}

// loadTLS reads the certificate and key named in cfg, or returns nil when
// neither is set.
func loadTLS(cfg Config) (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	if cfg.TLSCert == "" || cfg.TLSKey == "" {
		return nil, fmt.Errorf("server: TLS needs both a certificate (--tls-cert) and its key (--tls-key)")
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("server: loading the TLS certificate %s and key %s: %w", cfg.TLSCert, cfg.TLSKey, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// TLS reports whether the server serves HTTPS.
func (s *Server) TLS() bool { return s.tls != nil }

// URL is the server's base URL, as a person pastes it in a browser: an
// unspecified listening host is replaced by loopback.
func (s *Server) URL() string {
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	addr := s.Addr()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + "://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// harden adds to e what every response of the server goes through: the
// security headers, the per-request deadlines, and the client address
// as --trusted-proxies allows it to be read (echo's RealIP would
// otherwise believe any X-Forwarded-For).
func (s *Server) harden(e *echo.Echo) {
	e.IPExtractor = ipExtractor(s.cfg.TrustedProxies)
	e.Use(s.securityHeaders, s.deadlines)
}
