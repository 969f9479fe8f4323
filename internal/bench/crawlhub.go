package bench

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Token is the API token of every crawlhub process the harness starts.
const Token = "bench-token"

// Master is a crawlhub master the harness started, as a subprocess.
type Master struct {
	*Proc
	Base string // http://127.0.0.1:PORT
	// Pprof is the master's pprof address when it was started with the
	// harness's own "master" command (which has one), else empty.
	Pprof string
}

// MasterSpec says how to start a master.
type MasterSpec struct {
	CrawlhubBin string // the crawlhub binary
	// HarnessBin, when set, starts the harness's "master" command instead:
	// the same server.New wiring as `crawlhub server`, plus a pprof
	// listener, for CPU profiles.
	HarnessBin string
	RedisURL   string
	MongoURI   string // with the database in the path
	// ClusterSecret signs the bus; empty runs it with --insecure-bus, as
	// the scenarios measured before the bus was signed (scenario 9
	// measures the difference).
	ClusterSecret string
}

// busArgs are the flags that give a master or an agent the cluster
// secret, or none.
func busArgs(secret string) []string {
	if secret == "" {
		return []string{"--insecure-bus"}
	}
	return []string{"--cluster-secret", secret}
}

// StartMaster starts `crawlhub server` against Redis and the Mongo store.
func (ps *Procs) StartMaster(ctx context.Context, s MasterSpec) (*Master, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	m := &Master{Base: "http://" + listen}
	var p *Proc
	if s.HarnessBin != "" {
		pport, err := FreePort()
		if err != nil {
			return nil, err
		}
		m.Pprof = "127.0.0.1:" + strconv.Itoa(pport)
		p, err = ps.Start("master-pprof", nil, nil, s.HarnessBin, "master",
			"--listen", listen, "--token", Token, "--redis", s.RedisURL, "--mongo", s.MongoURI, "--pprof", m.Pprof)
		if err != nil {
			return nil, err
		}
	} else {
		p, err = ps.Start("master", nil, nil, s.CrawlhubBin, append([]string{"server",
			"--listen", listen, "--token", Token, "--redis", s.RedisURL, "--mongo", s.MongoURI,
			"--log-level", "warn", "--max-ws", strconv.Itoa(benchMaxWS), "--max-ws-per-address", strconv.Itoa(benchMaxWS)},
			busArgs(s.ClusterSecret)...)...)
		if err != nil {
			return nil, err
		}
	}
	m.Proc = p
	if err := waitHTTP(ctx, p, m.Base+"/healthz", 30*time.Second); err != nil {
		return nil, err
	}
	return m, nil
}

// benchMaxWS lifts the master's WebSocket caps: every benchmark client
// connects from 127.0.0.1, and scenario 4 alone opens IdleClients.
const benchMaxWS = 100000

// Agent is a crawlhub agent the harness started, as a subprocess.
type Agent struct {
	*Proc
	Name string
}

// StartAgent starts `crawlhub agent` and waits until master lists it
// online. extra flags come last, so they override the defaults here
// (--concurrency 2).
func (ps *Procs) StartAgent(ctx context.Context, bin, redisURL, mongoURI, name, secret string, m *Master, extra ...string) (*Agent, error) {
	dir := filepath.Join(ps.Dir, "agent-"+name)
	args := append([]string{"agent",
		"--redis", redisURL, "--mongo", mongoURI, "--name", name, "--data", dir,
		"--concurrency", "2", "--log-level", "warn"}, busArgs(secret)...)
	p, err := ps.Start("agent-"+name, nil, nil, bin, append(args, extra...)...)
	if err != nil {
		return nil, err
	}
	a := &Agent{Proc: p, Name: name}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var l struct {
			Items []struct {
				ID     string `json:"id"`
				Name   string `json:"name"`
				Status string `json:"status"`
			} `json:"items"`
		}
		if err := m.API(ctx, "GET", "/api/nodes", nil, &l); err == nil {
			for _, n := range l.Items {
				if n.Name == name && n.Status == "online" {
					return a, nil
				}
			}
		}
		if p.Exited() {
			return nil, fmt.Errorf("agent exited at start: %s", p.Tail())
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("agent %s not online after 30 s: %s", name, p.Tail())
		}
		time.Sleep(100 * time.Millisecond) // another process's state, seen through the API
	}
}

// NodeID returns the id of the node named name.
func (m *Master) NodeID(ctx context.Context, name string) (string, error) {
	var l struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := m.API(ctx, "GET", "/api/nodes", nil, &l); err != nil {
		return "", err
	}
	for _, n := range l.Items {
		if n.Name == name {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("no node named %s", name)
}

// API calls the REST API. body, when not nil, is sent as JSON unless it is
// an io.Reader, then as is with the content type in ct.
func (m *Master) API(ctx context.Context, method, path string, body any, out any) error {
	return m.apiCT(ctx, method, path, "application/json", body, out)
}

func (m *Master) apiCT(ctx context.Context, method, path, ct string, body any, out any) error {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, m.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	if rd != nil {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// CreateSpider uploads a spider whose command is command.
func (m *Master) CreateSpider(ctx context.Context, name, command string) (string, error) {
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("README")
	_, _ = w.Write([]byte("crawlhub-bench spider\n"))
	if err := zw.Close(); err != nil {
		return "", err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", name)
	_ = mw.WriteField("command", command)
	fw, _ := mw.CreateFormFile("file", "spider.zip")
	_, _ = fw.Write(zbuf.Bytes())
	if err := mw.Close(); err != nil {
		return "", err
	}
	var sp struct {
		ID string `json:"id"`
	}
	if err := m.apiCT(ctx, "POST", "/api/spiders", mw.FormDataContentType(), &body, &sp); err != nil {
		return "", err
	}
	return sp.ID, nil
}

// RunTask runs a spider with params on any node and returns the task id.
func (m *Master) RunTask(ctx context.Context, spiderID, params string) (string, error) {
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := m.API(ctx, "POST", "/api/tasks", map[string]any{"spider_id": spiderID, "mode": "any", "params": params}, &l); err != nil {
		return "", err
	}
	if len(l.Items) != 1 {
		return "", fmt.Errorf("run spider: %d tasks created", len(l.Items))
	}
	return l.Items[0].ID, nil
}

// TaskInfo is what the harness reads of a task.
type TaskInfo struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	LogLines int64  `json:"log_lines"`
	// ItemCount is how many items the task saved.
	ItemCount int64 `json:"item_count"`
}

// WaitTask waits until the task's status is one of want.
func (m *Master) WaitTask(ctx context.Context, id string, timeout time.Duration, want ...string) (*TaskInfo, error) {
	deadline := time.Now().Add(timeout)
	for {
		var t TaskInfo
		err := m.API(ctx, "GET", "/api/tasks/"+id, nil, &t)
		if err == nil {
			for _, w := range want {
				if t.Status == w {
					return &t, nil
				}
			}
			switch t.Status {
			case "error", "cancelled", "abnormal":
				return &t, fmt.Errorf("task %s ended %s: %s", id, t.Status, t.Reason)
			}
		}
		if time.Now().After(deadline) {
			return &t, fmt.Errorf("task %s still %s after %v (want %v; err %v)", id, t.Status, timeout, want, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond): // another process's state
		}
	}
}

// touch creates a file: the signal an emitting task waits for.
func touch(path string) error {
	return os.WriteFile(path, nil, 0o644)
}

// startAllInOne starts `crawlhub` with no sub-command (a master and an
// agent in one process, the in-process bus, SQLite in dir) as process
// name, on a free loopback port, and waits until it answers.
func (r *run) startAllInOne(ctx context.Context, name, dir, node string) (*Master, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	p, err := r.procs.Start(name, nil, nil, r.cfg.CrawlhubBin,
		"--listen", listen, "--data", dir, "--token", Token, "--log-level", "warn", "--name", node)
	if err != nil {
		return nil, err
	}
	m := &Master{Proc: p, Base: "http://" + listen}
	if err := waitHTTP(ctx, p, m.Base+"/healthz", 30*time.Second); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return m, nil
}
