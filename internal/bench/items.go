package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// ItemBytes is about the size of an item the items command saves: a
// line marker (as in Emit, so that a log follower counts items the way it
// counts lines) and the fields of a typical scraped page.
const ItemBytes = 160

// SaveItems saves n items through url (a task's CRAWLHUB_ITEMS_URL) in
// NDJSON batches of batch items, one request at a time so that they keep
// their order, after waitFile exists (when set). Each item is
//
//	{"m":"~L<10-digit number>T<19-digit unix ns>","url":…,"title":…,"price":…,"tags":[…]}
func SaveItems(ctx context.Context, url string, n int64, batch int, waitFile string) error {
	if url == "" {
		return fmt.Errorf("items: CRAWLHUB_ITEMS_URL is not set: run this as a crawlhub task")
	}
	if waitFile != "" {
		if err := waitFor(waitFile); err != nil {
			return fmt.Errorf("items: %w", err)
		}
	}
	var body bytes.Buffer
	for i := int64(0); i < n; {
		body.Reset()
		for k := 0; k < batch && i < n; k, i = k+1, i+1 {
			fmt.Fprintf(&body, `{"m":"%s%010dT%019d","url":"https://shop.example/p/%d","title":"Item number %d","price":%d.99,"tags":["bench","item"]}`+"\n",
				lineMarker, i, time.Now().UnixNano(), i, i, i%1000)
		}
		if err := postItems(ctx, url, body.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// postItems posts one batch, trying again while the agent is busy or away.
func postItems(ctx context.Context, url string, body []byte) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, msg)
			if resp.StatusCode < 500 {
				return fmt.Errorf("items: %w", err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("items: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func waitFor(file string) error {
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if _, err := os.Stat(file); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s never appeared", file)
		}
		time.Sleep(time.Millisecond) // a file is the signal
	}
}

// ItemsMain is the "items" command: items -n ITEMS [-batch ITEMS_PER_POST]
// [-wait FILE].
func ItemsMain(args []string) error {
	var n int64 = 1000
	batch := 1000
	wait := ""
	for i := 0; i < len(args); i++ {
		var v string
		if i+1 < len(args) {
			v = args[i+1]
		}
		var err error
		switch args[i] {
		case "-n":
			n, err = strconv.ParseInt(v, 10, 64)
		case "-batch":
			batch, err = strconv.Atoi(v)
		case "-wait":
			wait = v
		default:
			return fmt.Errorf("items: unknown argument %q", args[i])
		}
		if err != nil {
			return fmt.Errorf("items %s: %w", args[i], err)
		}
		i++
	}
	return SaveItems(context.Background(), os.Getenv("CRAWLHUB_ITEMS_URL"), n, max(batch, 1), wait)
}
