package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/wire"
)

type nodeJSON struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Status   string    `json:"status"`
	IsMaster bool      `json:"is_master"`
	LastSeen time.Time `json:"last_seen"`
}

type sysinfoJSON struct {
	NodeID   string `json:"node_id"`
	Name     string `json:"name"`
	Hostname string `json:"hostname"`
	CPUs     int    `json:"cpus"`
	MemTotal uint64 `json:"mem_total"`
}

// cluster is Redis, a fresh database on the Mongo-compatible test server,
// one master and some agents, each a separate process.
type cluster struct {
	t        *testing.T
	redis    *testenv.Redis // nil on Redis Cluster
	redisURL string         // --redis
	mongo    string
	token    string
	secret   string // the cluster secret: the bus is signed, as in production
	master   *proc
	api      *api
	agents   map[string]*proc
	dirs     map[string]string
}

var servingRE = regexp.MustCompile(`master serving" addr=(127\.0\.0\.1:\d+)`)

func newCluster(t *testing.T, agentNames ...string) *cluster {
	t.Helper()
	r := testenv.StartRedis(t)
	return newClusterOn(t, r, r.URL, agentNames...)
}

// newClusterOnRedisCluster is newCluster on a three-master Redis Cluster,
// named by a redis+cluster:// URL.
func newClusterOnRedisCluster(t *testing.T, agentNames ...string) *cluster {
	t.Helper()
	return newClusterOn(t, nil, testenv.StartRedisCluster(t).URL, agentNames...)
}

func newClusterOn(t *testing.T, r *testenv.Redis, redisURL string, agentNames ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, redis: r, redisURL: redisURL, token: "test-token-" + t.Name(), secret: "cluster-secret-of-" + t.Name(),
		agents: map[string]*proc{}, dirs: map[string]string{}}
	c.mongo = testenv.MongoURIs(t)[0].URI + testenv.UniqueDB(t)
	c.master = startProc(t, "master", "server", "--redis", c.redisURL, "--mongo", c.mongo,
		"--listen", "127.0.0.1:0", "--token", c.token, "--cluster-secret", c.secret)
	addr := c.master.waitLog(t, servingRE, 60*time.Second)[1]
	c.api = newAPI("http://"+addr, c.token)
	for _, name := range agentNames {
		c.dirs[name] = t.TempDir()
		c.startAgent(name)
	}
	c.waitOnline(agentNames...)
	return c
}

func (c *cluster) startAgent(name string) *proc {
	c.t.Helper()
	p := startProc(c.t, "agent "+name, "agent", "--redis", c.redisURL, "--mongo", c.mongo,
		"--name", name, "--data", c.dirs[name], "--cluster-secret", c.secret)
	c.agents[name] = p
	return p
}

func (c *cluster) nodes() ([]nodeJSON, error) {
	var l struct {
		Items []nodeJSON `json:"items"`
		Total int        `json:"total"`
	}
	code, e, err := c.api.get("/api/nodes", &l)
	if err != nil {
		return nil, err
	}
	if code != 200 {
		return nil, fmt.Errorf("GET /api/nodes: %d %s", code, e.Message)
	}
	return l.Items, nil
}

func (c *cluster) node(name string) (nodeJSON, error) {
	ns, err := c.nodes()
	if err != nil {
		return nodeJSON{}, err
	}
	for _, n := range ns {
		if n.Name == name {
			return n, nil
		}
	}
	return nodeJSON{}, fmt.Errorf("no node named %s in %v", name, ns)
}

func (c *cluster) waitOnline(names ...string) {
	c.t.Helper()
	for _, name := range names {
		eventually(c.t, 60*time.Second, "node "+name+" online", func() error {
			n, err := c.node(name)
			if err == nil && n.Status != "online" {
				err = fmt.Errorf("status %s", n.Status)
			}
			return err
		})
	}
}

func (c *cluster) sysinfo(id string) (int, sysinfoJSON, apiErr, error) {
	var si sysinfoJSON
	code, e, err := c.api.get("/api/nodes/"+id+"/sysinfo", &si)
	return code, si, e, err
}

func TestClusterSysinfo(t *testing.T) {
	t.Parallel()
	testClusterSysinfo(t, newCluster(t, "alpha", "beta"))
}

// TestClusterSysinfoRedisCluster: the same processes on Redis Cluster,
// requests to each node on its sharded node channel.
func TestClusterSysinfoRedisCluster(t *testing.T) {
	t.Parallel()
	testClusterSysinfo(t, newClusterOnRedisCluster(t, "alpha", "beta"))
}

func testClusterSysinfo(t *testing.T, c *cluster) {
	ids := map[string]string{}
	for _, name := range []string{"alpha", "beta"} {
		n, err := c.node(name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = n.ID
		code, si, e, err := c.sysinfo(n.ID)
		if err != nil || code != 200 {
			t.Fatalf("sysinfo %s: %d %v %s", name, code, err, e.Message)
		}
		if si.NodeID != n.ID || si.Name != name || si.CPUs <= 0 || si.MemTotal == 0 || si.Hostname == "" {
			t.Fatalf("sysinfo of %s = %+v", name, si)
		}
	}

	// 1,000 concurrent calls, each answered by its own node.
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 1000 {
		name := []string{"alpha", "beta"}[i%2]
		wg.Go(func() {
			code, si, e, err := c.sysinfo(ids[name])
			switch {
			case err != nil:
				errs <- err
			case code != 200:
				errs <- fmt.Errorf("%d %s", code, e.Message)
			case si.NodeID != ids[name]:
				errs <- fmt.Errorf("call to %s answered by %s", name, si.Name)
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 5 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of 1000 concurrent calls failed", n)
	}

	// Unknown and malformed ids are told apart.
	if code, e, _ := c.api.get("/api/nodes/0123456789abcdef01234567/sysinfo", nil); code != 404 || e.Code != "not_found" {
		t.Errorf("unknown node: %d %+v", code, e)
	}
	if code, e, _ := c.api.get("/api/nodes/nope/sysinfo", nil); code != 400 || e.Code != "bad_request" {
		t.Errorf("bad id: %d %+v", code, e)
	}
	// Every API request needs the token.
	noTok := newAPI(c.api.base, "")
	if code, e, _ := noTok.get("/api/nodes", nil); code != 401 || e.Code != "unauthorized" {
		t.Errorf("no token: %d %+v", code, e)
	}
	if code, _, _ := newAPI(c.api.base, "wrong").get("/api/nodes", nil); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _, _ := noTok.get("/healthz", nil); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	if code, _, _ := noTok.get("/metrics", nil); code != 401 {
		t.Errorf("metrics without a token: %d", code)
	}
	req, _ := http.NewRequest("GET", c.api.base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("metrics: %v %v", resp, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "crawlhub_nodes_online 2") {
			t.Errorf("metrics do not count 2 nodes online:\n%s", b)
		}
	}
}

// TestClusterFailures: a frozen node times out, its late reply is dropped,
// garbage on nodes:master is dropped, a stopped node fails fast.
func TestClusterFailures(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "alpha")
	n, err := c.node("alpha")
	if err != nil {
		t.Fatal(err)
	}
	agent := c.agents["alpha"]

	// Frozen (SIGSTOP): still within its heartbeats, so the call is sent
	// and runs into the 5 s deadline.
	if err := agent.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, _, e, err := c.sysinfo(n.ID)
	took := time.Since(start)
	if err != nil || code != http.StatusGatewayTimeout || e.Code != "timeout" {
		t.Fatalf("frozen node: %d %+v %v", code, e, err)
	}
	if took < 4*time.Second || took > 8*time.Second {
		t.Errorf("deadline error after %v, want about 5 s", took)
	}
	// Thawed, it answers the old request late: dropped; new calls work.
	if err := agent.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		code, si, e, err := c.sysinfo(n.ID)
		if err != nil || code != 200 || si.NodeID != n.ID {
			t.Fatalf("after late reply: %d %+v %v", code, e, err)
		}
	}

	// Garbage on nodes:master is logged and dropped: unsigned, and signed
	// with the cluster secret but malformed or of an unknown type.
	signer, err := wire.NewSigner(c.secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"not json", string(signer.Sign([]byte(`{"id":"x", not json}`))),
		string(signer.Sign([]byte(`{"id":"x","type":"no_such_type","node_id":"` + n.ID + `"}`)))} {
		out, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strings.TrimPrefix(c.redis.Addr, "127.0.0.1:"),
			"PUBLISH", "nodes:master", msg).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli: %v %s", err, out)
		}
	}
	c.master.waitLog(t, regexp.MustCompile(`dropped a bus message: message is not signed`), 10*time.Second)
	c.master.waitLog(t, regexp.MustCompile(`dropped malformed message on nodes:master`), 10*time.Second)
	c.master.waitLog(t, regexp.MustCompile(`dropped message of unknown type on nodes:master.*type=no_such_type`), 10*time.Second)
	if code, _, e, err := c.sysinfo(n.ID); err != nil || code != 200 {
		t.Fatalf("master stopped serving after garbage: %d %+v %v", code, e, err)
	}

	// Stopped cleanly: offline at once, and calls fail fast with a message
	// naming the node.
	agent.kill(syscall.SIGTERM)
	eventually(t, 5*time.Second, "stopped node offline", func() error {
		start := time.Now()
		code, _, e, err := c.sysinfo(n.ID)
		if err != nil {
			return err
		}
		if code != http.StatusServiceUnavailable || e.Code != "node_offline" {
			return fmt.Errorf("%d %+v", code, e)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("offline error took %v", took)
		}
		if !regexp.MustCompile(`^node alpha \(` + n.ID + `\) is offline, last seen \d+ s ago$`).MatchString(e.Message) {
			t.Fatalf("offline message %q", e.Message)
		}
		return nil
	})
}

// TestClusterRedisRestart: Redis dies and comes back on the same port; the
// master and the agent carry on by themselves.
func TestClusterRedisRestart(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "alpha")
	n, err := c.node("alpha")
	if err != nil {
		t.Fatal(err)
	}
	if code, _, e, err := c.sysinfo(n.ID); err != nil || code != 200 {
		t.Fatalf("before: %d %+v %v", code, e, err)
	}
	c.redis.Stop()
	if code, _, _, _ := c.sysinfo(n.ID); code == 200 {
		t.Fatal("a call succeeded with Redis down")
	}
	// Down long enough for a dial to have failed: go-redis's pool then
	// refuses to dial for a while, and the bus must not wait on it.
	c.agents["alpha"].waitLog(t, regexp.MustCompile(`failed to dial`), 5*time.Second)
	c.redis.Start()
	back := time.Now()
	// Both resubscribe by themselves; a call made before they did is lost
	// like any PubSub message and would only fail at its deadline.
	c.master.waitLog(t, regexp.MustCompile(`redis pubsub reconnected`), 5*time.Second)
	c.agents["alpha"].waitLog(t, regexp.MustCompile(`redis pubsub reconnected`), 5*time.Second)
	eventually(t, 5*time.Second-time.Since(back), "calls work again after Redis restart", func() error {
		code, si, e, err := c.sysinfo(n.ID)
		if err == nil && (code != 200 || si.NodeID != n.ID) {
			err = fmt.Errorf("%d %+v", code, e)
		}
		return err
	})
	t.Logf("calls worked again %v after Redis restarted", time.Since(back).Round(time.Millisecond))
	if !c.master.running() || !c.agents["alpha"].running() {
		t.Fatal("a crawlhub process exited")
	}
}

// TestClusterAgentKilled: SIGKILL leaves no goodbye; missed heartbeats mark
// the node offline within 20 s. Restarted, it is the same node.
func TestClusterAgentKilled(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "alpha", "beta")
	before, err := c.node("alpha")
	if err != nil {
		t.Fatal(err)
	}
	c.agents["alpha"].kill(syscall.SIGKILL)
	killed := time.Now()
	eventually(t, 20*time.Second, "killed node offline in the store", func() error {
		n, err := c.node("alpha")
		if err == nil && n.Status != "offline" {
			err = fmt.Errorf("status %s", n.Status)
		}
		return err
	})
	t.Logf("offline %v after SIGKILL", time.Since(killed).Round(time.Millisecond))
	if code, _, e, _ := c.sysinfo(before.ID); code != http.StatusServiceUnavailable || e.Code != "node_offline" {
		t.Fatalf("call to killed node: %d %+v", code, e)
	}
	// A task for the offline node is refused, naming it, unless queued;
	// a queued one says what it waits for and runs when the node is back.
	sp := c.spider("hello", "echo hello", map[string]string{"x": ""})
	code, e, err := c.api.postJSON("/api/tasks", map[string]any{"spider_id": sp.ID, "mode": "nodes", "node_ids": []string{before.ID}}, nil)
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(e.Message, "node alpha") {
		t.Fatalf("task for an offline node: %d %+v %v", code, e, err)
	}
	queued := c.run(map[string]any{"spider_id": sp.ID, "mode": "nodes", "node_ids": []string{before.ID}, "queue": true})[0]
	if queued.Status != "pending" || !strings.Contains(queued.Reason, "waiting for node alpha") {
		t.Fatalf("queued task: %+v", queued)
	}

	c.startAgent("alpha")
	c.waitOnline("alpha")
	ns, err := c.nodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 {
		t.Fatalf("nodes after restart = %+v, want alpha and beta only", ns)
	}
	after, _ := c.node("alpha")
	if after.ID != before.ID {
		t.Fatalf("restarted agent got id %s, was %s", after.ID, before.ID)
	}
	if code, si, e, err := c.sysinfo(after.ID); err != nil || code != 200 || si.NodeID != before.ID {
		t.Fatalf("restarted node sysinfo: %d %+v %v", code, e, err)
	}
	if done := c.waitTask(queued.ID, 60*time.Second, "finished", "error", "cancelled", "abnormal"); done.Status != "finished" || done.NodeID != before.ID {
		t.Fatalf("queued task after the node came back: %+v", done)
	}
}

// TestAllInOne: the default command needs nothing installed, prints its URL
// with a token, and keeps the token across restarts.
func TestAllInOne(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	urlRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)`)
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", data)
	m := p.waitLog(t, urlRE, 60*time.Second)
	a := newAPI(m[1], m[2])
	var node nodeJSON
	eventually(t, 10*time.Second, "the one node online", func() error {
		var l struct {
			Items []nodeJSON `json:"items"`
		}
		if code, e, err := a.get("/api/nodes", &l); err != nil || code != 200 {
			return fmt.Errorf("%d %+v %v", code, e, err)
		}
		if len(l.Items) != 1 || l.Items[0].Status != "online" || !l.Items[0].IsMaster {
			return fmt.Errorf("nodes = %+v", l.Items)
		}
		node = l.Items[0]
		return nil
	})
	var si sysinfoJSON
	if code, e, err := a.get("/api/nodes/"+node.ID+"/sysinfo", &si); err != nil || code != 200 || si.CPUs <= 0 {
		t.Fatalf("sysinfo: %d %+v %v %+v", code, e, err, si)
	}
	if code, _, _ := newAPI(m[1], "").get("/api/nodes", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}

	p.kill(syscall.SIGTERM)
	p2 := startProc(t, "all-in-one again", "--listen", "127.0.0.1:0", "--data", data)
	m2 := p2.waitLog(t, urlRE, 60*time.Second)
	if m2[2] != m[2] {
		t.Fatalf("token changed across restart")
	}
	a2 := newAPI(m2[1], m2[2])
	var l struct {
		Items []nodeJSON `json:"items"`
	}
	if code, _, err := a2.get("/api/nodes", &l); err != nil || code != 200 || len(l.Items) != 1 || l.Items[0].ID != node.ID {
		t.Fatalf("after restart: %d %v %+v", code, err, l.Items)
	}
}
