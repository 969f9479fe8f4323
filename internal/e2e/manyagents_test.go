package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/simagent"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// The size of TestClusterManyAgents: bounded for `make test`; the
// benchmark's scenario 14 runs 200 agents on 3 masters as processes.
const (
	manyAgents  = 50
	manyMasters = 2
	// manyBeat is the heartbeat of the agents and the masters: short, so
	// that a silent node is offline in 3 beats without a long wait.
	manyBeat = 500 * time.Millisecond
)

const manySecret = "e2e-many-agents-cluster-secret-0123456789"

// TestClusterManyAgents: 50 simulated agents (the real protocol, signed)
// on 2 masters over Redis and the Mongo-compatible store. Every master
// lists every node online and hears every one's heartbeats; get_sysinfo
// and get_log reach random nodes through every master and come back from
// the right node; an agent that stops heartbeating without a goodbye goes
// offline on every master: in the node list, on the nodes channel, and
// for calls to it.
func TestClusterManyAgents(t *testing.T) {
	// The servers first: cleanups run last-registered first, so they stop
	// after the masters and agents, and the stores close while they answer.
	r := testenv.StartRedis(t)
	uri := testenv.MongoURIs(t)[0].URI
	db := testenv.UniqueDB(t)
	e := newEnv(t)
	open := func() store.Store {
		st, err := mongo.Open(context.Background(), uri, db)
		if err != nil {
			t.Fatal(err)
		}
		e.stores = append(e.stores, st)
		return st
	}
	connect := func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(context.Background(), r.URL, h, testLog(t)) }
	for range manyMasters {
		s, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Log: testLog(t), Heartbeat: manyBeat, ClusterSecret: manySecret}, open(), connect)
		if err != nil {
			t.Fatal(err)
		}
		e.masters = append(e.masters, s)
		e.wg.Go(func() { s.Run(e.ctx) })
	}
	// Each master's nodes channel, to see it tell its clients.
	var watch []<-chan wsapi.Publication[json.RawMessage]
	for i := range manyMasters {
		c := e.dial(i)
		if err := c.Subscribe(e.ctx, wsapi.ChannelNodes, 0); err != nil {
			t.Fatal(err)
		}
		watch = append(watch, c.Publications())
	}

	// The agents share a store connection, as they share this process;
	// each has its own bus connection, as a real agent.
	st := open()
	machine := simagent.NewMachine("e2e")
	agents := make([]*simagent.Agent, manyAgents)
	for i := range agents {
		a, err := simagent.New(simagent.Config{Name: fmt.Sprintf("sim-%03d", i), Heartbeat: manyBeat, ClusterSecret: manySecret,
			Machine: machine, Log: testLog(t)}, st, connect)
		if err != nil {
			t.Fatal(err)
		}
		agents[i] = a
		e.wg.Go(func() { a.Run(e.ctx) })
	}
	for m := range manyMasters {
		e.waitNodes(m, manyAgents)
		waitHeard(t, e, m, manyAgents)
	}

	// A running task on each of a few nodes, whose log only its node has.
	const logLines = 300
	tasks := map[string]*simagent.Agent{}
	for _, a := range agents[:10] {
		id := store.NewID()
		a.Fake(id, logLines)
		now := store.Now()
		if err := st.Tasks().Create(e.ctx, &store.Task{ID: id, NodeID: a.NodeID(), Mode: "node", Status: store.TaskRunning, Command: "true", Created: now, Started: now}); err != nil {
			t.Fatal(err)
		}
		tasks[id] = a
	}
	taskIDs := make([]string, 0, len(tasks))
	for id := range tasks {
		taskIDs = append(taskIDs, id)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	for m := range manyMasters {
		for range 40 {
			a := agents[rnd.IntN(len(agents))]
			var si wire.SysInfo
			e.get(m, "/api/nodes/"+a.NodeID()+"/sysinfo", &si)
			if si.NodeID != a.NodeID() || si.Name != a.Name() {
				t.Fatalf("master %d: sysinfo of %s came back as %s (%s)", m, a.NodeID(), si.NodeID, si.Name)
			}
			id := taskIDs[rnd.IntN(len(taskIDs))]
			from := rnd.Int64N(logLines)
			var lb wire.LogBatch
			e.get(m, "/api/tasks/"+id+"/log?from="+strconv.FormatInt(from, 10)+"&limit=50", &lb)
			want := min(50, logLines-from)
			if lb.From != from || int64(len(lb.Lines)) != want || lb.Lines[0] != simagent.FakeLine(id, from) {
				t.Fatalf("master %d: log of %s from %d: from %d, %d lines, first %q: want %d lines from its node",
					m, id, from, lb.From, len(lb.Lines), firstLine(lb.Lines), want)
			}
		}
	}

	// One agent stops heartbeating, with no goodbye.
	gone := agents[len(agents)-1]
	gone.Crash()
	for m := range manyMasters {
		waitOffline(t, watch[m], gone.NodeID(), 10*manyBeat)
	}
	for m := range manyMasters {
		e.waitNodes(m, manyAgents-1)
		waitHeard(t, e, m, manyAgents-1)
		if code, body := rawGet(t, e, m, "/api/nodes/"+gone.NodeID()+"/sysinfo"); code != http.StatusServiceUnavailable || !strings.Contains(body, "offline") {
			t.Fatalf("master %d: sysinfo of a silent node: %d %s, want 503 saying it is offline", m, code, body)
		}
	}
}

func firstLine(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// waitHeard waits until master m's crawlhub_nodes_online (the nodes whose
// heartbeats it hears itself, not the store's list) is n.
func waitHeard(t *testing.T, e *env, m, n int) {
	t.Helper()
	want := "crawlhub_nodes_online " + strconv.Itoa(n) + "\n"
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := rawGet(t, e, m, "/metrics")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			i := strings.Index(body, "crawlhub_nodes_online ")
			t.Fatalf("master %d: want %q, have %q", m, strings.TrimSpace(want), body[i:min(len(body), i+30)])
		}
		time.Sleep(50 * time.Millisecond) // a gauge, with no event to wait for
	}
}

// waitOffline waits for a nodes-channel notification that node id is
// offline.
func waitOffline(t *testing.T, pubs <-chan wsapi.Publication[json.RawMessage], id string, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case p, ok := <-pubs:
			if !ok {
				t.Fatal("nodes channel closed")
			}
			var ev server.NodeEvent
			if json.Unmarshal(p.Data, &ev) == nil && ev.NodeID == id && ev.Status == store.NodeOffline {
				return
			}
		case <-timeout:
			t.Fatalf("no offline notification for %s within %v", id, within)
		}
	}
}

func rawGet(t *testing.T, e *env, m int, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base(m)+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
