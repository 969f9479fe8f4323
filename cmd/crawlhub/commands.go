package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"io/fs"

	"golang.org/x/sync/errgroup"

	crawlhub "github.com/crawlhub/crawlhub"
	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/redact"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

func dist() fs.FS {
	if !crawlhub.DistBuilt() {
		return nil
	}
	return crawlhub.Dist()
}

type serverFlags struct {
	listen    string
	token     string
	adminPass string
	origins   string
	heartbeat time.Duration
	http      httpFlags
	alerts    alertFlags
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address to serve the dashboard and the API on; loopback only unless you say otherwise (e.g. 0.0.0.0:8080)")
	fs.StringVar(&f.token, "token", "", "API and dashboard token; empty means generate one and print it")
	fs.StringVar(&f.adminPass, "admin-password", "", "password of the user admin created at first start (also set if admin has none yet; prefer the environment variable: other users of the machine can read a command line); empty: sign in with the printed URL and set one")
	fs.StringVar(&f.origins, "allowed-origins", "", "comma-separated extra Origins allowed to open WebSockets (the server's own is always allowed)")
	fs.DurationVar(&f.heartbeat, "heartbeat", 5*time.Second, "agents' heartbeat interval; a node is offline after 3 missed beats")
	f.http.register(fs)
	f.alerts.register(fs)
}

func (f *serverFlags) config(log *slog.Logger) (server.Config, error) {
	var origins []string
	for o := range strings.SplitSeq(f.origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	cfg := server.Config{
		Listen: f.listen, Token: f.token, AdminPassword: f.adminPass, AllowedOrigins: origins,
		Heartbeat: f.heartbeat, Dist: dist(), Version: version, Log: log,
	}
	if err := f.alerts.apply(&cfg, log); err != nil {
		return cfg, err
	}
	return cfg, f.http.apply(&cfg)
}

type taskFlags struct {
	concurrency int
	grace       time.Duration
	maxArchive  int64
	maxLog      int64
	itemsSocket string
}

func (f *taskFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.concurrency, "concurrency", 0, "tasks run at once on this node (0: the CPU count)")
	fs.DurationVar(&f.grace, "cancel-grace", 10*time.Second, "time between SIGTERM and SIGKILL when a task is stopped")
	fs.Int64Var(&f.maxArchive, "max-archive", 100<<20, "largest spider archive accepted, in bytes")
	fs.Int64Var(&f.maxLog, "max-log-size", 1<<30, "output a task's log keeps, in bytes; the rest is counted, not kept")
	fs.StringVar(&f.itemsSocket, "items-socket", "", "unix socket for the endpoint tasks save items to (default: a port on 127.0.0.1)")
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func dashboardURL(s *server.Server, token string) string {
	return s.URL() + "/?token=" + url.QueryEscape(token)
}

func printURL(s *server.Server, token string) {
	fmt.Fprintf(os.Stderr, "\n    crawlhub is running. Open the dashboard:\n\n        %s\n\n", dashboardURL(s, token))
}

func openMongo(ctx context.Context, uri string) (store.Store, error) {
	if uri == "" {
		return nil, errors.New("--mongo (CRAWLHUB_MONGO) is required, e.g. mongodb://127.0.0.1:27017/crawlhub")
	}
	// The URI may hold a password: every error shows it redacted.
	u, err := url.Parse(uri)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("--mongo %q: %w", uri, err), uri)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "crawlhub"
	}
	st, err := mongo.Open(ctx, uri, db)
	if err != nil {
		return nil, redact.Error(err, uri)
	}
	return st, nil
}

func redisConnect(ctx context.Context, url string, log *slog.Logger) func(bus.Handler) (bus.Bus, error) {
	return func(h bus.Handler) (bus.Bus, error) {
		if url == "" {
			return nil, errors.New("--redis (CRAWLHUB_REDIS) is required, e.g. redis://127.0.0.1:6379/0")
		}
		b, err := bus.NewRedis(ctx, url, h, log)
		if err != nil {
			return nil, redact.Error(err, url) // bus redacts too; this covers what it wraps
		}
		return b, nil
	}
}

func runServer(ctx context.Context, args []string) error {
	fs := newFlags("server", "crawlhub server: a master. Serves the dashboard, the REST API (/api) and the WebSocket API (/ws),\nand talks to agents over Redis PubSub. Any number may run against the same Redis and MongoDB.")
	var sf serverFlags
	var lf logFlags
	var redisURL, mongoURI string
	var maxArchive int64
	var drainDelay, storeTimeout time.Duration
	var bf busFlags
	sf.register(fs)
	lf.register(fs)
	bf.register(fs)
	fs.Int64Var(&maxArchive, "max-archive", 100<<20, "largest spider archive accepted, in bytes")
	fs.DurationVar(&drainDelay, "drain-delay", 0, "on SIGTERM, how long to keep serving with /readyz at 503 \"draining\" before closing the listener, for a load balancer to notice (0: close at once)")
	fs.DurationVar(&storeTimeout, "store-timeout", 0, "how long a request waits for each store call before answering 503 store_unavailable (0: 2s)")
	fs.StringVar(&redisURL, "redis", "", "Redis URL, e.g. redis://127.0.0.1:6379/0; Redis Cluster: redis+cluster://h1:7000,h2:7000,h3:7000/; Sentinel: redis+sentinel://h1:26379,h2:26379/mymaster/0 (docs/redis.md)")
	fs.StringVar(&mongoURI, "mongo", "", "MongoDB URI; the path names the database (default crawlhub), e.g. mongodb://127.0.0.1:27017/crawlhub")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	secret, err := bf.clusterSecret(log)
	if err != nil {
		return err
	}
	st, err := openMongo(ctx, mongoURI)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	generated := sf.token == ""
	if generated {
		sf.token = newToken()
	}
	cfg, err := sf.config(log)
	if err != nil {
		return err
	}
	cfg.MaxArchive = maxArchive
	cfg.ClusterSecret = secret
	if drainDelay < 0 {
		return errors.New("--drain-delay cannot be negative (0 means none)")
	}
	cfg.DrainDelay = drainDelay
	if storeTimeout < 0 {
		return errors.New("--store-timeout cannot be negative (0 means 2s)")
	}
	cfg.StoreTimeout = storeTimeout
	s, err := server.New(cfg, st, redisConnect(ctx, redisURL, log))
	if err != nil {
		return err
	}
	if generated {
		printURL(s, sf.token)
	} else {
		log.Info("dashboard: open the url with ?token=<the configured token>", "url", s.URL()+"/")
	}
	return s.Run(ctx)
}

func runAgent(ctx context.Context, args []string) error {
	fs := newFlags("agent", "crawlhub agent: a work node. Registers itself, heartbeats, answers masters and runs spiders.")
	var lf logFlags
	var redisURL, mongoURI, name, data, metricsAddr string
	var heartbeat time.Duration
	var tf taskFlags
	var bf busFlags
	lf.register(fs)
	tf.register(fs)
	bf.register(fs)
	fs.StringVar(&redisURL, "redis", "", "Redis URL, e.g. redis://127.0.0.1:6379/0; Redis Cluster: redis+cluster://h1:7000,h2:7000,h3:7000/; Sentinel: redis+sentinel://h1:26379,h2:26379/mymaster/0 (docs/redis.md)")
	fs.StringVar(&mongoURI, "mongo", "", "MongoDB URI; the path names the database (default crawlhub)")
	fs.StringVar(&name, "name", "", "node name shown in the dashboard (default: the hostname)")
	fs.StringVar(&data, "data", "./agent-data", "directory for the node id and the spiders' files; one per agent")
	fs.DurationVar(&heartbeat, "heartbeat", 5*time.Second, "heartbeat interval; masters mark the node offline after 3 missed beats")
	fs.StringVar(&metricsAddr, "metrics-listen", "", "serve this agent process's Go and process metrics (goroutines, memory, open files) on http://ADDR/metrics, with no credential; empty: off")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	secret, err := bf.clusterSecret(log)
	if err != nil {
		return err
	}
	st, err := openMongo(ctx, mongoURI)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	a, err := agent.New(agent.Config{Name: name, DataDir: data, Heartbeat: heartbeat, Version: version, Log: log, ClusterSecret: secret,
		Concurrency: tf.concurrency, CancelGrace: tf.grace, MaxArchive: tf.maxArchive, MaxLogBytes: tf.maxLog, ItemsSocket: tf.itemsSocket},
		st, redisConnect(ctx, redisURL, log))
	if err != nil {
		return err
	}
	return runWithMetrics(ctx, metricsAddr, a.Run)
}

func runAllInOne(ctx context.Context, args []string) error {
	fs := newFlags("crawlhub", "crawlhub: the all-in-one. A master and an agent in one process, an in-process bus instead of Redis\nand SQLite under --data instead of MongoDB. Nothing else to install.")
	var sf serverFlags
	var lf logFlags
	var data, name string
	var tf taskFlags
	sf.register(fs)
	lf.register(fs)
	tf.register(fs)
	fs.StringVar(&data, "data", "./data", "directory for the database, files and the generated token")
	fs.StringVar(&name, "name", "", "this node's name (default: the hostname)")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	log, err := lf.logger()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if sf.token == "" {
		if sf.token, err = loadOrCreateToken(filepath.Join(data, "token")); err != nil {
			return err
		}
	}
	st, err := sqlite.Open(ctx, data)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())

	broker := bus.NewMemoryBroker()
	connect := func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil }
	cfg, err := sf.config(log)
	if err != nil {
		return err
	}
	cfg.MaxArchive = tf.maxArchive
	s, err := server.New(cfg, st, connect)
	if err != nil {
		return err
	}
	a, err := agent.New(agent.Config{Name: name, DataDir: filepath.Join(data, "agent"), Heartbeat: sf.heartbeat,
		Version: version, IsMaster: true, Log: log, Concurrency: tf.concurrency, CancelGrace: tf.grace,
		MaxArchive: tf.maxArchive, MaxLogBytes: tf.maxLog, ItemsSocket: tf.itemsSocket}, st, connect)
	if err != nil {
		return err
	}
	if created, err := server.CreateSampleSpider(ctx, st); err != nil {
		log.Warn("sample spider not created", "err", err)
	} else if created {
		log.Info("created the sample spider \"sample\": run it from the dashboard's Spiders page")
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return a.Run(gctx) })
	printURL(s, sf.token)
	return g.Wait()
}

// loadOrCreateToken keeps the all-in-one's token across restarts, so a
// bookmarked dashboard URL keeps working.
func loadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read token: %w", err)
	}
	t := newToken()
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save token: %w", err)
	}
	return t, nil
}

func quietHelp(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}
