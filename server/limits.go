package server

import (
	"strconv"

	"github.com/labstack/echo/v4"
)

// A page of a list (tasks, a spider's items, and every list that pages):
// limit ≤ 0 means the default, and more than maxListLimit is that many,
// so that no request asks the store for everything at once.
const (
	defaultListLimit = 50
	maxListLimit     = 1000
)

// listLimit is the one place a list's page size is decided, for the REST
// and the WebSocket APIs alike.
func listLimit(n int) int {
	if n <= 0 {
		return defaultListLimit
	}
	return min(n, maxListLimit)
}

// limitParam is the ?limit= of a list, through listLimit: a negative or
// zero limit is the default, as it is on the WebSocket API. Anything but
// a whole number is a bad request.
func limitParam(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("limit must be a whole number (1 to 1000; 0 or none means 50)")
	}
	return listLimit(n), nil
}
