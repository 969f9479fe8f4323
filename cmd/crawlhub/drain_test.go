package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/wsapi"
)

// TestMasterDrains: two masters on Redis and the Mongo-compatible test
// server, a client following a running task's log through master A. A
// gets SIGTERM: its /readyz says 503 "draining" while it finishes, its
// WebSockets are closed with 1012, and it exits 0; the follower resumes
// on master B, and the log it received has every line once, in order.
func TestMasterDrains(t *testing.T) {
	t.Parallel()
	r := testenv.StartRedis(t)
	c := &cluster{t: t, redis: r, redisURL: r.URL, token: "test-token-" + t.Name(), secret: "cluster-secret-of-" + t.Name(),
		agents: map[string]*proc{}, dirs: map[string]string{}}
	c.mongo = testenv.MongoURIs(t)[0].URI + testenv.UniqueDB(t)
	startMaster := func(name string, extra ...string) (*proc, string) {
		p := startProc(t, name, append([]string{"server", "--redis", c.redis.URL, "--mongo", c.mongo,
			"--listen", "127.0.0.1:0", "--token", c.token, "--cluster-secret", c.secret}, extra...)...)
		return p, "http://" + p.waitLog(t, servingRE, 60*time.Second)[1]
	}
	a, baseA := startMaster("master A", "--drain-delay", "2s")
	_, baseB := startMaster("master B")
	c.master, c.api = a, newAPI(baseA, c.token)
	c.dirs["alpha"] = t.TempDir()
	c.startAgent("alpha")
	c.waitOnline("alpha")

	const n = 300
	sp := c.spider("slow", "sh run.sh", map[string]string{"run.sh": fmt.Sprintf(
		"i=0; while [ $i -lt %d ]; do echo \"line $i\"; i=$((i+1)); sleep 0.02; done\n", n)})
	task := c.run(map[string]any{"spider_id": sp.ID, "mode": "any"})[0]

	// A second connection to A, to see how A closes it.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	raw, err := client.Dial(ctx, baseA, c.token)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Subscribe(ctx, wsapi.ChannelTasks, 0); err != nil {
		t.Fatal(err)
	}

	got := make(chan int64, n+1)
	type outcome struct {
		status string
		err    error
	}
	followed := make(chan outcome, 1)
	go func() {
		status, err := client.Follow(ctx, baseA+","+baseB, c.token, task.ID, 0, func(i int64, text string) error {
			if want := fmt.Sprintf("line %d", i); text != want {
				return fmt.Errorf("line %d is %q, want %q", i, text, want)
			}
			got <- i
			return nil
		})
		close(got)
		followed <- outcome{status, err}
	}()
	var lines []int64
	for i := range got {
		lines = append(lines, i)
		if i == 30 {
			break
		}
	}

	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Draining: /readyz says so (for the 2 s of --drain-delay), and
	// open WebSockets are told 1012 with a reason.
	eventually(t, 2*time.Second, "/readyz of the draining master at 503 draining", func() error {
		code, e, err := newAPI(baseA, c.token).get("/readyz", nil)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || !regexp.MustCompile(`^draining`).MatchString(e.Message) {
			return fmt.Errorf("%d %+v", code, e)
		}
		return nil
	})
	select {
	case <-raw.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the draining master kept its WebSocket open")
	}
	var ce *websocket.CloseError
	if err := raw.Err(); !errors.As(err, &ce) || ce.Code != wsapi.CloseServiceRestart || ce.Text == "" {
		t.Errorf("WebSocket closed with %v, want close 1012 with a reason", err)
	}
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("master A still running 20 s after SIGTERM")
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("master A exited %d after SIGTERM, want 0", code)
	}
	a.waitLog(t, regexp.MustCompile(`master drained`), time.Second)

	for i := range got {
		lines = append(lines, i)
	}
	res := <-followed
	if res.err != nil || res.status != "finished" {
		t.Fatalf("follow across the drain: %q, %v; want finished", res.status, res.err)
	}
	if len(lines) != n {
		t.Errorf("%d lines received, want %d", len(lines), n)
	}
	for k, i := range lines {
		if i != int64(k) {
			t.Fatalf("line %d received as number %d: a gap or a duplicate", k, i)
		}
	}
}
