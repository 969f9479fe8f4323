package agent_test

import (
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// TestTaskEnvLacksAgentSecrets: a spider sees the allowed part of the agent's
// environment, its own env and crawlhub's variables, and none of the
// agent's secrets: no CRAWLHUB_TOKEN, no Redis or MongoDB URI, no other
// CRAWLHUB_* setting, nothing else from the agent.
func TestTaskEnvLacksAgentSecrets(t *testing.T) {
	const password = "s3cret-pa55word"
	t.Setenv("CRAWLHUB_TOKEN", "token-"+password)
	t.Setenv("CRAWLHUB_REDIS", "redis://:"+password+"@127.0.0.1:6379/0")
	t.Setenv("CRAWLHUB_MONGO", "mongodb://crawlhub:"+password+"@127.0.0.1/crawlhub")
	t.Setenv("CRAWLHUB_CLUSTER_SECRET", password+password)
	t.Setenv("REDIS_URL", "redis://:"+password+"@127.0.0.1:6379/0")
	t.Setenv("AWS_SECRET_ACCESS_KEY", password)
	t.Setenv("https_proxy", "http://proxy.example:3128")
	t.Setenv("LC_TIME", "C")
	n := startNode(t, config{})
	sp := n.spider("printenv", "env\n")
	sp.Env = map[string]string{"FROM_SPIDER": "yes", "PYTHONPATH": "/opt/mine"}
	if err := n.st.Spiders().Update(n.ctx, &sp); err != nil {
		t.Fatal(err)
	}
	task := n.run(sp)
	n.taskStatus(task.ID, store.TaskFinished)
	lines, err := n.st.Logs().ReadLog(n.ctx, task.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, l := range lines {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
		if strings.Contains(l, password) {
			t.Errorf("the spider saw a secret of the agent: %s", l)
		}
	}
	for _, k := range []string{"CRAWLHUB_TOKEN", "CRAWLHUB_REDIS", "CRAWLHUB_MONGO", "CRAWLHUB_CLUSTER_SECRET", "REDIS_URL", "AWS_SECRET_ACCESS_KEY"} {
		if _, ok := env[k]; ok {
			t.Errorf("the spider's environment has %s", k)
		}
	}
	for k, want := range map[string]string{
		"https_proxy": "http://proxy.example:3128", "LC_TIME": "C", "FROM_SPIDER": "yes",
		"CRAWLHUB_TASK_ID": task.ID, "CRAWLHUB_SPIDER_NAME": "printenv",
	} {
		if env[k] != want {
			t.Errorf("%s=%q in the spider's environment, want %q", k, env[k], want)
		}
	}
	if env["PATH"] == "" || !strings.HasPrefix(env["CRAWLHUB_ITEMS_URL"], "http") {
		t.Errorf("PATH %q, CRAWLHUB_ITEMS_URL %q", env["PATH"], env["CRAWLHUB_ITEMS_URL"])
	}
	if !strings.HasSuffix(env["PYTHONPATH"], ":/opt/mine") {
		t.Errorf("PYTHONPATH=%q: want the SDK, then the spider's", env["PYTHONPATH"])
	}
}

// TestTaskEnvRefused: a task whose env breaks the rule (stored by other
// means than the API, which refuses it) is not run; it ends in error and
// says why.
func TestTaskEnvRefused(t *testing.T) {
	n := startNode(t, config{})
	sp := n.spider("preload", "echo ran\n")
	task := n.queue(sp)
	task.Env = map[string]string{"LD_PRELOAD": "/tmp/evil.so"}
	if err := n.st.Tasks().Update(n.ctx, &task); err != nil {
		t.Fatal(err)
	}
	n.send("task_available", struct{}{})
	ts := n.taskStatus(task.ID, store.TaskError)
	if !strings.Contains(ts.Reason, "LD_PRELOAD") {
		t.Errorf("reason %q does not name the refused key", ts.Reason)
	}
	if lines, _ := n.st.Logs().ReadLog(n.ctx, task.ID, 0, 10); len(lines) != 0 {
		t.Errorf("the task ran: %q", lines)
	}
}
