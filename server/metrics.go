package server

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// metrics are one master's Prometheus metrics (docs/metrics.md lists
// them). Each Server has its own registry, never the global one, so that
// several masters in one process (tests, benchmarks) keep theirs apart.
//
// Labels take bounded values only (a status, an op, a method, an
// outcome), never a task or node id. The histograms of the hot paths
// (node RPCs, JSON-RPC calls, store calls) are by two labels, and their
// series are made at first use and cached (see series), so that
// observing one costs no allocation and no lock, and a scrape lists the
// series that were used rather than every combination there could be.
type metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	tasksCreated, tasksStarted prometheus.Counter
	tasksEnded                 map[string]prometheus.Counter  // by final status
	taskDuration               map[string]prometheus.Observer // by final status
	queueWait                  prometheus.Observer
	logLines, items            prometheus.Counter

	rpc       *series // by op and outcome
	jsonrpc   *series // by method ("unknown" for one not in rpcRoles) and outcome
	store     *series // by aggregate and method
	busErrors [numChannelKinds]prometheus.Counter
}

var (
	_ wire.CallObserver = (*metrics)(nil)
	_ bus.Bus           = countingBus{}
)

// endedStatuses are the statuses a task ends in.
var endedStatuses = []string{store.TaskFinished, store.TaskError, store.TaskCancelled, store.TaskAbnormal}

// Buckets, in seconds. Tasks run from a second to a day; they wait in the
// queue from milliseconds (a node nudged at once) to hours (a queue
// behind a busy node). Node RPCs are milliseconds, with the 5 s deadline
// as the last bucket; store calls are sub-millisecond on SQLite, more on
// MongoDB.
var (
	taskDurationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400}
	queueWaitBuckets    = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}
	rpcBuckets          = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	storeBuckets        = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// newMetrics registers every metric that does not need the Server's
// parts; register adds the ones that read them at scrape time.
func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{reg: reg, tasksEnded: map[string]prometheus.Counter{}, taskDuration: map[string]prometheus.Observer{}}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.tasksCreated = prometheus.NewCounter(prometheus.CounterOpts{Name: "crawlhub_tasks_created_total",
		Help: "Tasks created (queued as pending), in the whole cluster, as this master heard of them."})
	m.tasksStarted = prometheus.NewCounter(prometheus.CounterOpts{Name: "crawlhub_tasks_started_total",
		Help: "Tasks a node started running, in the whole cluster, as this master heard of them."})
	ended := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crawlhub_tasks_ended_total",
		Help: "Tasks that ended, by final status (finished, error, cancelled, abnormal)."}, []string{"status"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crawlhub_task_duration_seconds",
		Help: "How long tasks ran, from start to end, by final status.", Buckets: taskDurationBuckets}, []string{"status"})
	for _, st := range endedStatuses {
		m.tasksEnded[st] = ended.WithLabelValues(st)
		m.taskDuration[st] = dur.WithLabelValues(st)
	}
	wait := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "crawlhub_task_queue_wait_seconds",
		Help: "How long tasks waited from their creation until a node started them.", Buckets: queueWaitBuckets})
	m.queueWait = wait
	m.logLines = prometheus.NewCounter(prometheus.CounterOpts{Name: "crawlhub_task_log_lines_total",
		Help: "Log lines written by tasks, counted when each task ends."})
	m.items = prometheus.NewCounter(prometheus.CounterOpts{Name: "crawlhub_task_items_total",
		Help: "Items saved by tasks, counted when each task ends."})
	f(m.tasksCreated)
	f(m.tasksStarted)
	f(ended)
	f(dur)
	f(wait)
	f(m.logLines)
	f(m.items)

	rpc := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crawlhub_node_rpc_duration_seconds",
		Help: "Calls from this master to nodes over the bus, by operation and outcome: how long each took (the _count is the calls).", Buckets: rpcBuckets},
		[]string{"op", "outcome"})
	m.rpc = newSeries(rpc)
	f(rpc)

	busErrs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crawlhub_bus_publish_errors_total",
		Help: "Messages this master could not publish on the bus, by kind of channel (master, node, log, items)."}, []string{"channel"})
	for k := range numChannelKinds {
		m.busErrors[k] = busErrs.WithLabelValues(channelKindNames[k])
	}
	f(busErrs)

	calls := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crawlhub_jsonrpc_call_duration_seconds",
		Help: "JSON-RPC calls from WebSocket clients, by method and outcome: how long serving each took (the _count is the calls).", Buckets: rpcBuckets},
		[]string{"method", "outcome"})
	m.jsonrpc = newSeries(calls)
	f(calls)

	storeCalls := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crawlhub_store_call_duration_seconds",
		Help: "Calls from this master to the store, by aggregate and method: how long each took (the _count is the calls).", Buckets: storeBuckets},
		[]string{"aggregate", "method"})
	m.store = newSeries(storeCalls)
	f(storeCalls)
	return m
}

// register adds the metrics read from s at scrape time and the handler;
// s's hub, caller and heartbeats exist by then.
func (m *metrics) register(s *Server) {
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crawlhub_ws_clients",
		Help: "WebSocket clients connected to this master."}, func() float64 { return float64(s.hub.Clients()) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "crawlhub_ws_slow_disconnects_total",
		Help: "WebSocket clients this master closed with 4008 for not keeping up."}, func() float64 { return float64(s.hub.Stats().SlowDisconnects) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "crawlhub_nodes_online",
		Help: "Nodes whose heartbeats this master hears."}, func() float64 { return float64(s.nodesOnline()) }))

	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// metrics serves /metrics in the Prometheus text format (or OpenMetrics,
// as the scraper asks).
func (s *Server) metrics(c echo.Context) error {
	s.prom.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// nodesOnline counts the nodes this master heard within offlineAfter.
func (s *Server) nodesOnline() int {
	cutoff := time.Now().Add(-s.offlineAfter())
	s.mu.Lock()
	defer s.mu.Unlock()
	online := 0
	for _, last := range s.lastBeat {
		if last.After(cutoff) {
			online++
		}
	}
	return online
}

// CallDone counts and times one call to a node (wire.CallObserver).
func (m *metrics) CallDone(op string, outcome wire.CallOutcome, took time.Duration) {
	m.rpc.get(op, outcome.String()).Observe(took.Seconds())
}

// taskStatus counts a task_status event. Every master hears every task's
// events, so each master's task metrics describe the whole cluster.
func (m *metrics) taskStatus(payload []byte) {
	var ev wire.TaskStatus
	if json.Unmarshal(payload, &ev) != nil {
		return
	}
	switch ev.Status {
	case store.TaskPending:
		m.tasksCreated.Inc()
	case store.TaskRunning:
		m.tasksStarted.Inc()
		if !ev.Created.IsZero() && !ev.Started.IsZero() {
			m.queueWait.Observe(max(0, ev.Started.Sub(ev.Created).Seconds()))
		}
	default:
		ended, ok := m.tasksEnded[ev.Status]
		if !ok {
			return
		}
		if !ev.Started.IsZero() && !ev.Finished.IsZero() {
			m.taskDuration[ev.Status].Observe(max(0, ev.Finished.Sub(ev.Started).Seconds()))
		}
		m.logLines.Add(float64(max(0, ev.LogLines)))
		m.items.Add(float64(max(0, ev.ItemCount)))
		// Last: a scrape that sees the task ended sees all of it.
		ended.Inc()
	}
}

// The outcomes of a JSON-RPC call, from its error code.
const (
	rpcOK = iota
	rpcBadRequest
	rpcForbidden
	rpcNotFound
	rpcConflict
	rpcNodeUnavailable
	rpcUnavailable
	rpcInternal
	numRPCOutcomes
)

var rpcOutcomeNames = [numRPCOutcomes]string{"ok", "bad_request", "forbidden", "not_found", "conflict", "node_unavailable", "unavailable", "internal"}

// rpcOutcome groups JSON-RPC error codes into a few outcomes: what went
// wrong, in the words an alert would use.
func rpcOutcome(code int) int {
	switch code {
	case 0:
		return rpcOK
	case wsapi.CodeParse, wsapi.CodeInvalidRequest, wsapi.CodeMethodNotFound, wsapi.CodeInvalidParams,
		wsapi.CodeTooManySubs, wsapi.CodeAlreadySubscribed:
		return rpcBadRequest
	case wsapi.CodeForbidden, wsapi.CodeUnauthorized:
		return rpcForbidden
	case wsapi.CodeNotFound:
		return rpcNotFound
	case wsapi.CodeConflict:
		return rpcConflict
	case wsapi.CodeNodeOffline, wsapi.CodeTimeout, wsapi.CodeNodeError:
		return rpcNodeUnavailable
	case wsapi.CodeUnavailable:
		return rpcUnavailable
	}
	return rpcInternal
}

// observeJSONRPC counts and times one JSON-RPC call (hub.Config.Observe).
func (m *metrics) observeJSONRPC(method string, code int, took time.Duration) {
	if _, ok := rpcRoles[method]; !ok {
		method = "unknown" // any string a client sends: not a label value
	}
	m.jsonrpc.get(method, rpcOutcomeNames[rpcOutcome(code)]).Observe(took.Seconds())
}

// series holds the observers of a histogram by two labels, each made the
// first time it is asked for. Reads take no lock and allocate nothing:
// the map is replaced, never changed, under mu.
type series struct {
	vec *prometheus.HistogramVec
	obs atomic.Pointer[map[[2]string]prometheus.Observer]
	mu  sync.Mutex
}

func newSeries(vec *prometheus.HistogramVec) *series {
	s := &series{vec: vec}
	s.obs.Store(&map[[2]string]prometheus.Observer{})
	return s
}

func (s *series) get(a, b string) prometheus.Observer {
	k := [2]string{a, b}
	if o, ok := (*s.obs.Load())[k]; ok {
		return o
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := *s.obs.Load()
	o, ok := cur[k]
	if !ok {
		o = s.vec.WithLabelValues(a, b)
		next := maps.Clone(cur)
		next[k] = o
		s.obs.Store(&next)
	}
	return o
}

// The kinds of bus channel, for crawlhub_bus_publish_errors_total.
const (
	chanMaster = iota
	chanNode
	chanLog
	chanItems
	numChannelKinds
)

var channelKindNames = [numChannelKinds]string{"master", "node", "log", "items"}

func channelKind(channel string) int {
	switch {
	case channel == wire.MasterChannel:
		return chanMaster
	case wire.IsLogChannel(channel):
		return chanLog
	case wire.IsItemsChannel(channel):
		return chanItems
	}
	return chanNode
}

// countingBus counts the messages the master could not publish. A
// publish abandoned because its caller gave up (a closed request) is not
// an error of the bus and is not counted.
type countingBus struct {
	bus.Bus
	errs *[numChannelKinds]prometheus.Counter
}

func (b countingBus) Publish(ctx context.Context, channel string, payload []byte) error {
	err := b.Bus.Publish(ctx, channel, payload)
	if err != nil && !errors.Is(err, context.Canceled) {
		b.errs[channelKind(channel)].Inc()
	}
	return err
}
