package bus_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
)

// A Redis URL's password never shows in the errors a user sees when the
// URL is wrong or Redis refuses it.
func TestRedisErrorsRedactPassword(t *testing.T) {
	r := testenv.StartRedis(t)
	const secret = "s3cret-Pa55"
	for _, url := range []string{
		"redis://:" + secret + "@127.0.0.1:notaport/0",     // does not parse
		"redis://crawlhub:" + secret + "@" + r.Addr + "/0", // Redis knows no such user
		"redis://crawlhub:" + secret + "@127.0.0.1:1/0",    // nobody listens
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		b, err := bus.NewRedis(ctx, url, func(string, []byte) {}, slog.New(slog.DiscardHandler))
		cancel()
		if err == nil {
			b.Close()
			t.Fatalf("%s: connected", url)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}
