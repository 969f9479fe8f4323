package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store/mongo"
)

// MasterMain is the "master" command: a crawlhub master wired exactly as
// `crawlhub server` wires it (server.New, the Redis bus, the mongo store),
// plus a pprof listener, so the harness can take CPU and heap profiles of
// a master under load. The headline figures come from the real `crawlhub
// server`; this one only runs the profiling passes.
//
//	master --listen ADDR --token T --redis URL --mongo URI --pprof ADDR
func MasterMain(args []string) error {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		flags[strings.TrimLeft(args[i], "-")] = args[i+1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if addr := flags["pprof"]; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("pprof listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	u, err := url.Parse(flags["mongo"])
	if err != nil {
		return err
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "crawlhub"
	}
	st, err := mongo.Open(ctx, flags["mongo"], db)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	redisURL := flags["redis"]
	s, err := server.New(server.Config{Listen: flags["listen"], Token: flags["token"], Log: log,
		MaxWebSockets: benchMaxWS, MaxWebSocketsPerAddress: benchMaxWS}, st,
		func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(ctx, redisURL, h, log) })
	if err != nil {
		return err
	}
	if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// fetchProfile saves a CPU profile of seconds from a pprof endpoint to
// path.
func fetchProfile(ctx context.Context, pprofAddr, kind string, seconds int, path string) error {
	u := "http://" + pprofAddr + "/debug/pprof/" + kind
	if kind == "profile" {
		u += fmt.Sprintf("?seconds=%d", seconds)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("pprof %s: HTTP %d: %s", kind, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
