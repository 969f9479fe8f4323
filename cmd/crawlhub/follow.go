package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/wsapi"
)

// errTaskFailed makes the command's exit status the task's outcome.
type errTaskFailed struct{ status string }

func (e errTaskFailed) Error() string { return "task ended " + e.status }

type clientFlags struct {
	server string
	token  string
}

func (f *clientFlags) register(fs interface {
	StringVar(*string, string, string, string)
}) {
	fs.StringVar(&f.server, "server", "http://127.0.0.1:8080", "the master's URL")
	fs.StringVar(&f.token, "token", "", "the API token (or the dashboard URL's ?token=)")
}

func (f *clientFlags) check() error {
	if f.token == "" {
		return errors.New("--token (CRAWLHUB_TOKEN) is required: it is the token the server printed, or ./data/token for the all-in-one")
	}
	return nil
}

// dial checks the flags and connects to the master's WebSocket API.
func (f *clientFlags) dial(ctx context.Context) (*client.Conn, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return client.Dial(ctx, f.server, f.token)
}

// followTo prints a task's log from since to stdout until the task ends;
// a task that did not finish is an errTaskFailed (exit status 1).
func followTo(ctx context.Context, f *clientFlags, taskID string, since int64) error {
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	defer w.Flush()
	status, err := client.Follow(ctx, f.server, f.token, taskID, since, func(_ int64, line string) error {
		if _, err := w.WriteString(line); err != nil {
			return err
		}
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
		if w.Buffered() > 32<<10 {
			return w.Flush()
		}
		return nil
	})
	w.Flush()
	return followed(taskID, status, err)
}

// followed ends a follow of a task: its error, or the task's outcome on
// stderr and as the exit status (errTaskFailed unless it finished).
func followed(taskID, status string, err error) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crawlhub: task %s %s\n", taskID, status)
	if status != "finished" {
		return errTaskFailed{status}
	}
	return nil
}

func runLogs(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "search" {
		return runLogSearch(ctx, args[1:])
	}
	fs := newFlags("logs", "crawlhub logs [-f] [--since N] TASK_ID: print a task's log. With -f, follow it until the task ends;\nthe exit status is 0 if the task finished, 1 otherwise.")
	var cf clientFlags
	cf.register(fs)
	follow := fs.Bool("f", false, "follow the log until the task ends")
	since := fs.Int64("since", 0, "first line to print (lines are numbered from 0)")
	taskID, err := parseWithArg(fs, args, "TASK_ID")
	if err != nil {
		return quietHelp(err)
	}
	if err := cf.check(); err != nil {
		return err
	}
	if *follow {
		return followTo(ctx, &cf, taskID, *since)
	}
	c, err := client.Dial(ctx, cf.server, cf.token)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	from := *since
	for {
		var ll struct {
			Lines []string `json:"lines"`
		}
		if err := c.Call(ctx, wsapi.MethodTaskLog, map[string]any{"task_id": taskID, "from": from, "limit": 10000}, &ll); err != nil {
			return err
		}
		if len(ll.Lines) == 0 {
			return nil
		}
		for _, l := range ll.Lines {
			w.WriteString(l)
			w.WriteByte('\n')
		}
		from += int64(len(ll.Lines))
	}
}

func runRun(ctx context.Context, args []string) error {
	fs := newFlags("run", "crawlhub run SPIDER [--node NAME] [--all] [--follow]: run a spider (by name or id).\nWith --follow, print its log until it ends; the exit status is the task's outcome.")
	var cf clientFlags
	cf.register(fs)
	var nodes multiFlag
	fs.Var(&nodes, "node", "run on this node (name or id); repeat for several")
	all := fs.Bool("all", false, "run on every online node")
	follow := fs.Bool("follow", false, "follow the log until the task ends (one task only)")
	params := fs.String("params", "", "appended to the spider's command")
	timeout := fs.Int64("timeout", 0, "stop the task after this many seconds (0: never)")
	queue := fs.Bool("queue", false, "queue the task for an offline node instead of refusing")
	spider, err := parseWithArg(fs, args, "SPIDER")
	if err != nil {
		return quietHelp(err)
	}
	c, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	req := map[string]any{"mode": "any", "params": *params, "timeout": *timeout, "queue": *queue}
	if err := setTarget(ctx, c, req, spider, *all, nodes); err != nil {
		return err
	}
	var res struct {
		Items []struct {
			ID     string `json:"id"`
			NodeID string `json:"node_id"`
		} `json:"items"`
	}
	if err := c.Call(ctx, wsapi.MethodTaskRun, req, &res); err != nil {
		return err
	}
	for _, t := range res.Items {
		fmt.Fprintf(os.Stderr, "crawlhub: task %s created\n", t.ID)
	}
	if !*follow {
		for _, t := range res.Items {
			fmt.Println(t.ID)
		}
		return nil
	}
	if len(res.Items) != 1 {
		return fmt.Errorf("--follow follows one task; %d were created (follow each with crawlhub logs -f)", len(res.Items))
	}
	c.Close()
	return followTo(ctx, &cf, res.Items[0].ID, 0)
}

// setTarget puts in req, a task.run or schedule.create request, the spider
// (an id or a name) and where it runs: every online node with all, the
// named nodes, or else any node.
func setTarget(ctx context.Context, c *client.Conn, req map[string]any, spider string, all bool, nodes []string) error {
	if len(spider) == 24 && isHex(spider) {
		req["spider_id"] = spider
	} else {
		req["spider"] = spider
	}
	switch {
	case all:
		req["mode"] = "all"
	case len(nodes) > 0:
		ids, err := resolveNodes(ctx, c, nodes)
		if err != nil {
			return err
		}
		req["mode"], req["node_ids"] = "nodes", ids
	}
	return nil
}

func resolveNodes(ctx context.Context, c *client.Conn, names []string) ([]string, error) {
	var l struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := c.Call(ctx, wsapi.MethodNodesList, nil, &l); err != nil {
		return nil, err
	}
	var ids []string
	for _, want := range names {
		var match []string
		for _, n := range l.Items {
			if n.ID == want || n.Name == want {
				match = append(match, n.ID)
			}
		}
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("no node is named %q (crawlhub lists nodes at /api/nodes)", want)
		case 1:
			ids = append(ids, match[0])
		default:
			return nil, fmt.Errorf("%d nodes are named %q: use a node id instead", len(match), want)
		}
	}
	return ids, nil
}

func isHex(s string) bool {
	_, err := strconv.ParseUint(s[:12], 16, 64)
	_, err2 := strconv.ParseUint(s[12:], 16, 64)
	return err == nil && err2 == nil && strings.ToLower(s) == s
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
