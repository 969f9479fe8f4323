// Package simagent is a light stand-in for `crawlhub agent`, for scale
// tests and the benchmark: many of them run in one process against real
// masters, each speaking the real protocol on a bus connection of its own.
// A simulated agent registers in the store as the real one does,
// heartbeats with the machine's load (sysinfo.Sampler) on the bus and in
// the store, and answers requests through wire.Responder, signed with the
// cluster secret when there is one. It runs no spiders: it never polls
// for or claims tasks, and its get_log answers from logs it is given
// (Fake) instead of files written by processes.
package simagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/sysinfo"
	"github.com/crawlhub/crawlhub/wire"
)

// Config configures an Agent. Zero values mean the documented default.
type Config struct {
	// Name is the node's display name. Required.
	Name string
	// NodeID is the node's id. Zero means a new one.
	NodeID string
	// Heartbeat is the interval between heartbeats. Zero means 5 s, as
	// the real agent; the masters must agree on it.
	Heartbeat time.Duration
	// ClusterSecret signs what the agent publishes and is required on
	// what it receives. Zero means the insecure bus.
	ClusterSecret string
	// Version is reported in the node record and system info.
	Version string
	// Machine answers get_sysinfo; agents in one process share one, as
	// they share one machine. Nil means one of the agent's own.
	Machine *Machine
	Log     *slog.Logger
}

// Agent is one simulated work node. Create it with New, then Run it.
type Agent struct {
	cfg     Config
	store   store.Store
	bus     bus.Bus
	resp    *wire.Responder
	load    *sysinfo.Sampler
	machine *Machine
	log     *slog.Logger

	mu    sync.Mutex
	tasks map[string]int64 // fake running tasks: id → lines in their log

	crashed chan struct{} // closed by Crash
	crash   sync.Once
}

// New connects the agent to the bus through connect, which is called with
// the handler of the agent's messages.
func New(cfg Config, st store.Store, connect func(bus.Handler) (bus.Bus, error)) (*Agent, error) {
	if cfg.Name == "" {
		return nil, errors.New("simagent: a name is required")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = store.NewID()
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Machine == nil {
		cfg.Machine = NewMachine(cfg.Version)
	}
	a := &Agent{
		cfg:     cfg,
		store:   st,
		load:    sysinfo.NewSampler(os.TempDir()),
		machine: cfg.Machine,
		log:     cfg.Log.With("node_id", cfg.NodeID),
		tasks:   map[string]int64{},
		crashed: make(chan struct{}),
	}
	signer, err := wire.NewSigner(cfg.ClusterSecret, a.log)
	if err != nil {
		return nil, fmt.Errorf("simagent: %w", err)
	}
	a.bus, err = connect(func(_ string, payload []byte) { a.resp.Handle(payload) })
	if err != nil {
		return nil, err
	}
	a.resp = wire.NewResponder(wire.ResponderConfig{NodeID: cfg.NodeID, Bus: a.bus, Signer: signer, Workers: 2, Log: a.log}, a)
	return a, nil
}

// NodeID is the node's id.
func (a *Agent) NodeID() string { return a.cfg.NodeID }

// Name is the node's name.
func (a *Agent) Name() string { return a.cfg.Name }

// Crash stops the agent as a killed process stops: no more heartbeats or
// replies, no goodbye, its record left online for the masters to judge.
// Run returns soon after.
func (a *Agent) Crash() { a.crash.Do(func() { close(a.crashed) }) }

// Run registers the node, heartbeats and answers requests until ctx ends,
// then says goodbye as the real agent does (the node marked offline in the
// store and a last heartbeat with Stopping), unless it crashed.
func (a *Agent) Run(ctx context.Context) error {
	defer a.bus.Close()
	if err := a.register(ctx); err != nil {
		return err
	}
	if err := a.bus.Subscribe(ctx, wire.NodeChannel(a.cfg.NodeID)); err != nil {
		return fmt.Errorf("simagent: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.resp.Run(rctx) })
	wg.Go(func() { a.heartbeat(rctx) })
	select {
	case <-ctx.Done():
	case <-a.crashed:
	}
	cancel()
	wg.Wait()
	select {
	case <-a.crashed:
		return nil
	default:
	}
	bye, stop := context.WithTimeout(context.Background(), 2*time.Second)
	defer stop()
	if err := a.store.Nodes().SetOffline(bye, a.cfg.NodeID); err != nil {
		a.log.Warn("could not mark node offline", "err", err)
	}
	_ = a.resp.Emit(bye, wire.EvHeartbeat, wire.Heartbeat{Name: a.cfg.Name, At: store.Now(), Stopping: true})
	return ctx.Err()
}

func (a *Agent) register(ctx context.Context) error {
	host, _ := os.Hostname()
	ip, mac := sysinfo.PrimaryNetwork()
	n := &store.Node{
		ID: a.cfg.NodeID, Name: a.cfg.Name, Hostname: host, IP: ip, MAC: mac,
		OS: runtime.GOOS, Arch: runtime.GOARCH, Version: a.cfg.Version,
		Status: store.NodeOnline, LastSeen: store.Now(),
	}
	if err := a.store.Nodes().Register(ctx, n); err != nil {
		return fmt.Errorf("simagent: register node: %w", err)
	}
	return nil
}

// heartbeat beats at once and then every interval, as the real agent: the
// bus first (masters judge liveness by what they hear), then the store.
func (a *Agent) heartbeat(ctx context.Context) {
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		now := store.Now()
		hb := wire.Heartbeat{Name: a.cfg.Name, At: now}
		m, _ := a.load.Sample(ctx) // best effort, as the real agent's
		hb.Metrics = &m
		if err := a.resp.Emit(ctx, wire.EvHeartbeat, hb); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat not published", "err", err)
		}
		sctx, cancel := context.WithTimeout(ctx, a.cfg.Heartbeat)
		err := a.store.Nodes().Touch(sctx, a.cfg.NodeID, now)
		if errors.Is(err, store.ErrNotFound) {
			err = a.register(sctx)
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat not stored", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Fake makes the agent answer get_log for taskID as a task running here
// with a log of lines lines, each FakeLine(taskID, n).
func (a *Agent) Fake(taskID string, lines int64) {
	a.mu.Lock()
	a.tasks[taskID] = lines
	a.mu.Unlock()
}

// FakeLine is line n of a task given to Fake: what get_log must return.
func FakeLine(taskID string, n int64) string {
	return "simulated task " + taskID + " line " + strconv.FormatInt(n, 10)
}

// What the agent answers on its bus channel.
var _ wire.Node = (*Agent)(nil)

// Ping implements wire.Node.
func (a *Agent) Ping(context.Context) error { return nil }

// SysInfo implements wire.Node: the machine's, under this node's id and
// name.
func (a *Agent) SysInfo(ctx context.Context) (wire.SysInfo, error) {
	si, err := a.machine.collect(ctx)
	si.NodeID, si.Name = a.cfg.NodeID, a.cfg.Name
	return si, err
}

// GetLog implements wire.Node: a task given to Fake answers from its fake
// log; any other from the store, as the real agent does for a task that
// no longer runs here.
func (a *Agent) GetLog(ctx context.Context, req wire.GetLog) (wire.LogBatch, error) {
	a.mu.Lock()
	total, ok := a.tasks[req.TaskID]
	a.mu.Unlock()
	limit := req.Limit
	if limit <= 0 || limit > wire.MaxReadEntries {
		limit = wire.MaxReadEntries
	}
	out := wire.LogBatch{TaskID: req.TaskID, From: req.From}
	var err error
	if ok {
		out.Total = total
		out.Lines, err = wire.ReadLines(req.From, limit, func(from int64, n int) ([]string, error) {
			var lines []string
			for i := from; i < total && len(lines) < n; i++ {
				lines = append(lines, FakeLine(req.TaskID, i))
			}
			return lines, nil
		})
	} else {
		out.Lines, err = wire.ReadLines(req.From, limit, func(from int64, n int) ([]string, error) {
			return a.store.Logs().ReadLog(ctx, req.TaskID, from, n)
		})
		if err == nil {
			out.Total, err = a.store.Logs().LogLen(ctx, req.TaskID)
		}
	}
	if out.Lines == nil {
		out.Lines = []string{}
	}
	return out, err
}

// errNoFiles answers what needs files a simulated node does not keep.
var errNoFiles = errors.New("a simulated node keeps no task files or spiders")

// GetItems implements wire.Node: a simulated node has no items.
func (a *Agent) GetItems(context.Context, wire.GetItems) (wire.ItemBatch, error) {
	return wire.ItemBatch{}, errNoFiles
}

// SearchLog implements wire.Node: a simulated node has no log files.
func (a *Agent) SearchLog(context.Context, wire.SearchLog) (wire.LogSearch, error) {
	return wire.LogSearch{}, errNoFiles
}

// CancelTask implements wire.Node: a fake task ends.
func (a *Agent) CancelTask(_ context.Context, req wire.CancelTask) error {
	a.mu.Lock()
	delete(a.tasks, req.TaskID)
	a.mu.Unlock()
	return nil
}

// SyncSpider implements wire.Node: the sync fails, and says why, as a real
// node's that could not fetch the files.
func (a *Agent) SyncSpider(ctx context.Context, req wire.SyncSpider) error {
	return a.resp.Emit(ctx, wire.EvSpiderSynced, wire.SpiderSynced{SpiderID: req.SpiderID, Error: errNoFiles.Error()})
}

// TaskAvailable implements wire.Node: a simulated node runs no tasks.
func (a *Agent) TaskAvailable(context.Context, wire.TaskAvailable) error { return nil }

// Machine answers get_sysinfo for the simulated agents on one machine: one
// collection serves every call for a second, as the real agent's does for
// its own calls.
type Machine struct {
	c *sysinfo.Collector

	mu   sync.Mutex
	at   time.Time
	last wire.SysInfo
}

// NewMachine returns a Machine reporting version.
func NewMachine(version string) *Machine {
	return &Machine{c: sysinfo.NewCollector(sysinfo.Options{DiskPath: os.TempDir(), Version: version}, 0)}
}

func (m *Machine) collect(ctx context.Context) (wire.SysInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if time.Since(m.at) < time.Second {
		return m.last, nil
	}
	si, err := m.c.Collect(ctx)
	if err == nil {
		m.last, m.at = si, time.Now()
	}
	return si, err
}
