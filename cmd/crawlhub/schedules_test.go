package main

import (
	"encoding/hex"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// Three masters and two agents on Redis and the MongoDB-compatible store;
// a schedule made on the first master fires every second for 30 s while
// that master is killed and started again. Every fire time gets exactly
// one task: none twice, and none missing, since two masters were always
// up, and they learnt of the schedule from the bus, not the store.
func TestClusterScheduleOnce(t *testing.T) {
	c := newCluster(t, "a1", "a2")
	var other *api // the second master's API
	for _, name := range []string{"master 2", "master 3"} {
		p := startProc(t, name, "server", "--redis", c.redis.URL, "--mongo", c.mongo, "--listen", "127.0.0.1:0", "--token", c.token, "--cluster-secret", c.secret)
		addr := p.waitLog(t, servingRE, 60*time.Second)[1]
		if other == nil {
			other = newAPI("http://"+addr, c.token)
		}
	}
	c.spider("tick", "sh run.sh", map[string]string{"run.sh": "echo tick\n"})
	var sch struct {
		ID string `json:"id"`
	}
	code, e, err := c.api.postJSON("/api/schedules", map[string]any{"spider": "tick", "cron": "@every 1s", "overlap": "allow"}, &sch)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create schedule: %d %+v %v", code, e, err)
	}
	start := time.Now()
	time.Sleep(10 * time.Second) // the schedule runs; nothing to wait for but time
	c.master.kill(syscall.SIGKILL)
	time.Sleep(3 * time.Second)
	c.master.start(t)
	c.master.waitLog(t, servingRE, 60*time.Second)
	time.Sleep(time.Until(start.Add(30 * time.Second)))
	end := time.Now()
	// A fire time the killed master had claimed is made by another one
	// once the claim expires (10 s).
	time.Sleep(12 * time.Second)

	var l struct {
		Items []taskJSON `json:"items"`
		Total int        `json:"total"`
	}
	if code, e, err := other.get("/api/tasks?limit=1000&schedule_id="+sch.ID, &l); err != nil || code != 200 {
		t.Fatalf("list tasks: %d %+v %v", code, e, err)
	}
	// A fire's task id starts with its fire time in seconds.
	perSecond := map[int64]int{}
	for _, task := range l.Items {
		b, err := hex.DecodeString(task.ID)
		if err != nil || len(b) != 12 {
			t.Fatalf("task id %q", task.ID)
		}
		perSecond[int64(b[0])<<24|int64(b[1])<<16|int64(b[2])<<8|int64(b[3])]++
	}
	first, last := start.Unix()+1, end.Unix()
	for sec := first; sec <= last; sec++ {
		if n := perSecond[sec]; n != 1 {
			t.Errorf("fire time %s has %d tasks, want 1", time.Unix(sec, 0).UTC().Format(time.TimeOnly), n)
		}
	}
	if t.Failed() {
		t.Logf("%d tasks in all", l.Total)
	}
}
