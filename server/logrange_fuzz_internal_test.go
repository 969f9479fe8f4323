package server

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzLogRangeParams feeds arbitrary ?from= and ?limit= values to the
// parsers of a task log's range (GET /api/tasks/:id/log) and of a list's
// page size: each value is either a whole number in range or a
// bad_request with a message, never a panic, a negative offset or a page
// larger than the store may be asked for.
func FuzzLogRangeParams(f *testing.F) {
	for _, s := range []string{"0", "10", "1000", "1001", "-1", "-9223372036854775808",
		"9223372036854775807", "99999999999999999999", "1e3", "0x10", " 1", "+5", "abc", "", "١٢"} {
		f.Add(s)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, v string) {
		req := httptest.NewRequest("GET", "/api/tasks/t/log?"+url.Values{"from": {v}, "limit": {v}}.Encode(), nil)
		c := e.NewContext(req, httptest.NewRecorder())
		check := func(name string, n int, err error, lo, hi int) {
			if err != nil {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Code != CodeBadRequest || ae.Message == "" {
					t.Fatalf("%s=%q: error %v, want a bad_request with a message", name, v, err)
				}
				return
			}
			if n < lo || n > hi {
				t.Fatalf("%s=%q gave %d, outside %d..%d", name, v, n, lo, hi)
			}
		}
		n, err := intParam(c, "from", 0)
		check("from", n, err, 0, int(^uint(0)>>1))
		n, err = limitParam(c)
		check("limit", n, err, 1, maxListLimit)
	})
}
