package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// The read timeout bounds reading a request, not answering it: a long
// response to a GET (an export) is not cut when the read deadline
// passes, while a body trickled slower than it is, except a spider
// upload's, which has longer.
func TestReadTimeoutSparesLongResponses(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	s.echo = echo.New()
	s.harden(s.echo)
	const readTimeout = 200 * time.Millisecond
	s.echo.GET("/export", func(c echo.Context) error {
		time.Sleep(3 * readTimeout) // a response that takes longer than the read timeout
		if err := c.Request().Context().Err(); err != nil {
			return c.String(http.StatusInternalServerError, "cancelled: "+err.Error())
		}
		return c.String(http.StatusOK, "every row")
	})
	readBody := func(c echo.Context) error {
		_, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return c.String(http.StatusRequestTimeout, err.Error())
		}
		return c.String(http.StatusOK, "read")
	}
	s.echo.POST("/json", readBody)
	s.echo.POST("/api/spiders", readBody)
	srv := s.httpServer()
	srv.ReadTimeout = readTimeout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	defer func() { srv.Close(); <-done }()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()

	resp, err := hc.Get("http://" + ln.Addr().String() + "/export")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "every row" {
		t.Fatalf("a GET answered after the read timeout: %d %s", resp.StatusCode, b)
	}

	// A body that arrives slower than the read timeout is cut; an upload
	// is given longer.
	for path, wantRead := range map[string]bool{"/json": false, "/api/spiders": true} {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"a":`))
			time.Sleep(3 * readTimeout) // a client trickling its body
			pw.Write([]byte(`1}`))
			pw.Close()
		}()
		resp, err = hc.Post("http://"+ln.Addr().String()+path, "application/json", pr)
		read := false
		if err == nil {
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			read = resp.StatusCode == 200
		}
		if read != wantRead {
			t.Errorf("POST %s with a body trickled past the read timeout: read %v, want %v (%v %s)", path, read, wantRead, err, b)
		}
	}
}
