// Package agent is a crawlhub work node: it registers itself in the store,
// heartbeats, answers the master's requests on its bus channel and (with
// tasks) runs spiders.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/sysinfo"
	"github.com/crawlhub/crawlhub/wire"
)

// Config configures an Agent. Zero values mean the documented default.
type Config struct {
	// Name is the node's display name. Zero means the hostname.
	Name string
	// DataDir holds the node id (node_id) and the spiders' files. Required.
	DataDir string
	// Heartbeat is the interval between heartbeats. Zero means 5 s; masters
	// mark the node offline after 3 missed beats, so they must agree on it.
	Heartbeat time.Duration
	// Version is reported in the node record and system info.
	Version string
	// IsMaster marks the all-in-one's own node.
	IsMaster bool
	// Concurrency is how many tasks run at once. Zero means the CPU count.
	Concurrency int
	// PollInterval is how often the agent looks for tasks when not nudged.
	// Zero means 5 s.
	PollInterval time.Duration
	// CancelGrace is the time between SIGTERM and SIGKILL when a task is
	// stopped. Zero means 10 s.
	CancelGrace time.Duration
	// MaxArchive bounds a spider archive. Zero means 100 MiB.
	MaxArchive int64
	// MaxLogBytes bounds the output a task's log keeps; past it the output
	// is counted, not kept, and the log says so (tasklog.Config.MaxBytes).
	// Zero means 1 GiB.
	MaxLogBytes int64
	// ItemsSocket, if set, is the path of the unix socket the items
	// endpoint listens on, and tasks' CRAWLHUB_ITEMS_URL have the form
	// http+unix://<the path, escaped>/tasks/…. Zero means a port on
	// 127.0.0.1 that the system picks (http://127.0.0.1:<port>/tasks/…).
	ItemsSocket string
	// ClusterSecret signs every message the agent publishes and is required
	// on every command it receives (wire.Signer). Zero means the insecure
	// bus: nothing is signed or checked.
	ClusterSecret string
	Log           *slog.Logger
}

// Agent is one work node. Create it with New, then Run it.
type Agent struct {
	cfg    Config
	store  store.Store
	bus    bus.Bus
	signer *wire.Signer // nil: the insecure bus
	resp   *wire.Responder
	out    *outbox // task status changes and stream ends, kept while the bus is down
	sys    *sysinfo.Collector
	load   *sysinfo.Sampler // the load each heartbeat reports
	nodeID string
	log    *slog.Logger

	sysMu   sync.Mutex // one collection at a time; callers meanwhile wait for it
	sysAt   time.Time
	sysLast wire.SysInfo

	spiderLocks spiderLocks
	sdkDir      string        // the SDK put on tasks' PYTHONPATH and NODE_PATH
	itemsBase   string        // the items endpoint's URL, set by Run
	wake        chan struct{} // capacity 1: nudges the poller
	runCtx      context.Context
	tasks       sync.WaitGroup // runTask goroutines

	// running records the process groups of the tasks started, for a
	// restart after a crash; set by recoverOrphans before any task runs.
	running *runningJournal

	mu    sync.Mutex
	runs  map[string]*run       // running tasks by id
	items map[string]*taskItems // items of running tasks (from before their process starts) by task id
	// starting are the tasks claimed and not yet in runs, with the
	// cancel_task that came for one meanwhile (nil: none): it is obeyed as
	// soon as the task's process exists.
	starting map[string]*wire.CancelTask
	// queued are the ids task_available named, oldest first; lookDue asks
	// the poller to look in the store (dispatch.go).
	queued  []string
	lookDue bool
}

// New reads (or creates) the node id in cfg.DataDir and connects to the bus
// through connect, which is called with the handler of the agent's messages.
func New(cfg Config, st store.Store, connect func(bus.Handler) (bus.Bus, error)) (*Agent, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("agent: a data directory is required")
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.CancelGrace == 0 {
		cfg.CancelGrace = 10 * time.Second
	}
	if cfg.MaxLogBytes <= 0 {
		cfg.MaxLogBytes = defaultMaxLogBytes
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	// Tasks run in their spider's directory: every path the agent gives
	// them (the SDK on PYTHONPATH, files under the data directory) must
	// not depend on the agent's working directory.
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("agent: data directory: %w", err)
	}
	cfg.DataDir = dataDir
	// Private: it holds tasks' logs and items, the spiders' files and the
	// node's identity. Made so again if it exists, so that what an older
	// version made with wider modes beneath it is out of reach too.
	if err := os.MkdirAll(cfg.DataDir, dirMode); err != nil {
		return nil, fmt.Errorf("agent: data directory: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, dirMode); err != nil {
		return nil, fmt.Errorf("agent: data directory: %w", err)
	}
	id, err := loadNodeID(filepath.Join(cfg.DataDir, "node_id"))
	if err != nil {
		return nil, err
	}
	sdkDir, err := extractSDK(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{
		cfg:      cfg,
		store:    st,
		nodeID:   id,
		log:      cfg.Log.With("node_id", id),
		sys:      sysinfo.NewCollector(sysinfo.Options{DiskPath: cfg.DataDir, Version: cfg.Version}, 0),
		load:     sysinfo.NewSampler(cfg.DataDir),
		wake:     make(chan struct{}, 1),
		runs:     map[string]*run{},
		items:    map[string]*taskItems{},
		starting: map[string]*wire.CancelTask{},
		sdkDir:   sdkDir,
		lookDue:  true, // at the start: what was queued while it was away
	}
	a.signer, err = wire.NewSigner(cfg.ClusterSecret, a.log)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.bus, err = connect(func(_ string, payload []byte) { a.resp.Handle(payload) })
	if err != nil {
		return nil, err
	}
	a.resp = wire.NewResponder(wire.ResponderConfig{NodeID: id, Bus: a.bus, Signer: a.signer, Log: a.log}, a)
	a.out = newOutbox(a.bus, a.log)
	if w, ok := a.bus.(bus.Watcher); ok {
		// Tasks queued while the bus was down can be claimed now, and
		// the task_available messages sent meanwhile were lost: look in
		// the store.
		w.Watch(func(up bool) {
			if up {
				a.mu.Lock()
				a.lookDue = true
				a.mu.Unlock()
				a.nudge()
			}
		})
	}
	return a, nil
}

// The modes of what the agent makes in its data directory: only the user
// it runs as (and its tasks, which run as that user) may read them. A
// spider's extracted files keep their archive's modes, in a private
// directory.
const (
	dirMode  = 0o700
	fileMode = 0o600
)

// What the agent answers on its bus channel: the methods of wire.Node.
var _ wire.Node = (*Agent)(nil)

// Ping implements wire.Node.
func (a *Agent) Ping(context.Context) error { return nil }

// sysinfoFresh is how long one collection of system info answers calls:
// a burst of calls (a dashboard per person, scripts) shares one reading of
// /proc instead of each paying for it.
const sysinfoFresh = time.Second

// SysInfo implements wire.Node.
func (a *Agent) SysInfo(ctx context.Context) (wire.SysInfo, error) {
	a.sysMu.Lock()
	defer a.sysMu.Unlock()
	if time.Since(a.sysAt) < sysinfoFresh {
		return a.sysLast, nil
	}
	si, err := a.sys.Collect(ctx)
	si.NodeID, si.Name = a.nodeID, a.cfg.Name
	if err == nil {
		a.sysLast, a.sysAt = si, time.Now()
	}
	return si, err
}

// NodeID is the node's id: stable across restarts with the same DataDir.
func (a *Agent) NodeID() string { return a.nodeID }

// loadNodeID keeps the node's identity in its data directory, not in its
// MAC or hostname: two agents on one machine (or two clones of a VM) stay
// two nodes, and a restart is the same node.
func loadNodeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !store.ValidID(id) {
			return "", fmt.Errorf("agent: %s holds %q, not a node id; delete the file to register as a new node", path, id)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("agent: read node id: %w", err)
	}
	id := store.NewID()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), fileMode); err != nil {
		return "", fmt.Errorf("agent: save node id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("agent: save node id: %w", err)
	}
	return id, nil
}

func (a *Agent) register(ctx context.Context) error {
	host, _ := os.Hostname()
	ip, mac := sysinfo.PrimaryNetwork()
	n := &store.Node{
		ID: a.nodeID, Name: a.cfg.Name, Hostname: host, IP: ip, MAC: mac,
		OS: runtime.GOOS, Arch: runtime.GOARCH, Version: a.cfg.Version,
		IsMaster: a.cfg.IsMaster, Status: store.NodeOnline, LastSeen: store.Now(),
	}
	if err := a.store.Nodes().Register(ctx, n); err != nil {
		return fmt.Errorf("agent: register node: %w", err)
	}
	return nil
}

// Run registers the node, serves requests and heartbeats until ctx ends,
// then marks the node offline and closes the bus.
func (a *Agent) Run(ctx context.Context) error {
	defer a.bus.Close()
	if err := a.register(ctx); err != nil {
		return err
	}
	if err := a.bus.Subscribe(ctx, wire.NodeChannel(a.nodeID)); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ln, base, lerr := a.listenItems()
	if lerr != nil {
		return lerr
	}
	a.itemsBase = base
	// Tasks may save items until they have ended, stopping included: the
	// endpoint stops after them.
	stopItems := a.serveItems(ln)
	a.log.Info("agent online", "name", a.cfg.Name, "data", a.cfg.DataDir, "items", base)
	a.recoverOrphans(ctx)
	if a.running != nil {
		defer a.running.close()
	}
	a.runCtx = ctx
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.resp.Run(gctx) })
	g.Go(func() error { a.heartbeat(gctx); return nil })
	g.Go(func() error { a.out.run(gctx); return nil })
	g.Go(func() error { a.syncAll(gctx); a.poll(gctx); return nil })
	err := g.Wait()
	// Running tasks see ctx end and stop; wait for their outcome to be
	// recorded before saying goodbye.
	a.tasks.Wait()
	stopItems()

	// Say goodbye with a fresh context: ctx is already done.
	bye, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n := a.out.flush(bye); n > 0 {
		a.log.Warn("stopping with messages not sent: the bus is unreachable; the store has what they said", "messages", n)
	}
	if err := a.store.Nodes().SetOffline(bye, a.nodeID); err != nil {
		a.log.Warn("could not mark node offline", "err", err)
	}
	_ = a.resp.Emit(bye, wire.EvHeartbeat, wire.Heartbeat{Name: a.cfg.Name, At: store.Now(), Stopping: true})
	a.log.Info("agent stopped")
	return err
}

func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		a.beat(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) beat(ctx context.Context) {
	now := store.Now()
	hb := wire.Heartbeat{Name: a.cfg.Name, At: now}
	// Best effort: what could be measured is reported, the rest is zero.
	m, err := a.load.Sample(ctx)
	if err != nil && ctx.Err() == nil {
		a.log.Debug("load partly measured", "err", err)
	}
	hb.Metrics = &m
	// The bus first: masters judge liveness by what they hear, and a store
	// that is away must not silence the node (its Touch would wait for
	// the store's server selection timeout, longer than masters wait).
	// Bounded: a Redis that hangs must not hold up the store's record
	// either (masters would mark the node offline from it).
	ectx, ecancel := context.WithTimeout(ctx, a.cfg.Heartbeat)
	if err := a.resp.Emit(ectx, wire.EvHeartbeat, hb); err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat not published", "err", err)
	}
	ecancel()
	sctx, cancel := context.WithTimeout(ctx, a.cfg.Heartbeat)
	defer cancel()
	err = a.store.Nodes().Touch(sctx, a.nodeID, now)
	if errors.Is(err, store.ErrNotFound) {
		// Someone deleted the node record: put it back.
		err = a.register(sctx)
	}
	if err != nil && ctx.Err() == nil {
		a.log.Warn("heartbeat not stored", "err", err)
	}
}
