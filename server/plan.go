package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// planner turns runs into the tasks they make, reading each spider and
// each node's liveness once however many runs it plans: a minute's fires
// of thousands of schedules of a few spiders read those spiders a few
// times, not thousands. It lives for one call and is not safe for
// concurrent use.
type planner struct {
	s       *Server
	spiders map[string]spiderResult // by "id:…" or "name:…"
	live    map[string]error        // by node id
	online  *[]store.Node           // read once, when a run asks for every node
}

type spiderResult struct {
	sp  *store.Spider
	err error
}

func (s *Server) planner() *planner {
	return &planner{s: s, spiders: map[string]spiderResult{}, live: map[string]error{}}
}

func (p *planner) spider(ctx context.Context, req RunRequest) (*store.Spider, error) {
	var key string
	switch {
	case req.SpiderID != "" && store.ValidID(req.SpiderID):
		key = "id:" + req.SpiderID
	case req.SpiderID != "":
		return nil, badRequest("spider_id " + req.SpiderID + " is not valid: ids are 24 hex digits")
	case req.Spider != "":
		key = "name:" + req.Spider
	default:
		return nil, badRequest("say which spider to run: spider_id, or spider (its name)")
	}
	r, ok := p.spiders[key]
	if !ok {
		if req.SpiderID != "" {
			r.sp, r.err = p.s.store.Spiders().Get(ctx, req.SpiderID)
		} else {
			r.sp, r.err = p.s.store.Spiders().GetByName(ctx, req.Spider)
		}
		if errors.Is(r.err, store.ErrNotFound) {
			r.err = notFound("no such spider: " + req.SpiderID + req.Spider)
		}
		p.spiders[key] = r
	}
	return r.sp, r.err
}

func (p *planner) nodeLive(ctx context.Context, id string) error {
	err, ok := p.live[id]
	if !ok {
		err = p.s.live(ctx, id)
		p.live[id] = err
	}
	return err
}

func (p *planner) onlineNodes(ctx context.Context) ([]store.Node, error) {
	if p.online == nil {
		on, err := p.s.onlineNodes(ctx)
		if err != nil {
			return nil, err
		}
		p.online = &on
	}
	return *p.online, nil
}

// plan returns the tasks req makes, not yet stored, with ids as o says.
func (p *planner) plan(ctx context.Context, req RunRequest, o origin) ([]store.Task, error) {
	sp, err := p.spider(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Timeout < 0 {
		return nil, badRequest("timeout is in seconds and cannot be negative")
	}
	if err := store.CheckEnv(req.Env); err != nil {
		return nil, badRequest(err.Error())
	}
	base := store.Task{
		SpiderID: sp.ID, SpiderName: sp.Name, Mode: req.Mode, Status: store.TaskPending,
		Command: sp.Command, Params: req.Params, Env: req.Env, Timeout: req.Timeout,
	}
	var targets []string // node ids; "" for any node
	reasons := map[string]string{}
	switch req.Mode {
	case "", "any":
		base.Mode = "any"
		targets = []string{""}
	case "all":
		on, err := p.onlineNodes(ctx)
		if err != nil {
			return nil, err
		}
		if len(on) == 0 {
			return nil, nodeOffline("no node is online to run on: start an agent first")
		}
		for _, n := range on {
			targets = append(targets, n.ID)
		}
	case "nodes":
		if len(req.NodeIDs) == 0 {
			return nil, badRequest(`mode "nodes" needs node_ids`)
		}
		for _, id := range req.NodeIDs {
			if !store.ValidID(id) {
				return nil, badRequest("node id " + id + " is not valid: ids are 24 hex digits")
			}
			err := p.nodeLive(ctx, id)
			switch {
			case err == nil:
			case errors.Is(err, wire.ErrNodeOffline) && req.Queue:
				var oe *wire.OfflineError
				errors.As(err, &oe)
				reasons[id] = fmt.Sprintf("waiting for node %s (%s) to come online", oe.Name, id)
			case errors.Is(err, wire.ErrNodeOffline):
				return nil, nodeOffline(err.Error() + "; pass \"queue\": true to queue the task until it is back")
			default:
				return nil, err
			}
			targets = append(targets, id)
		}
	default:
		return nil, badRequest(`mode must be "any", "all" or "nodes"`)
	}
	tasks := make([]store.Task, 0, len(targets))
	for _, node := range targets {
		t := base
		t.ID, t.NodeID, t.Created, t.Reason, t.ScheduleID = o.taskID(node), node, store.Now(), reasons[node], o.scheduleID
		t.CreatedBy = o.by
		if o.waitFor != "" {
			t.WaitFor = o.waitFor
			if t.Reason == "" {
				t.Reason = "waiting for task " + o.waitFor + " of its schedule to end (overlap: queue)"
			}
		}
		tasks = append(tasks, t)
	}
	return tasks, nil
}
