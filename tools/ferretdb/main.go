// Command ferretdb runs FerretDB v1 (MongoDB wire protocol on SQLite) for
// crawlhub's tests: no MongoDB server can be installed where they run.
//
// It lives in a module of its own so that FerretDB's many dependencies stay
// out of crawlhub's go.mod. FerretDB's own command cannot be `go install`ed
// (it panics on a missing build/version/version.txt), so this wraps the
// embeddable library package instead.
//
//	ferretdb --listen 127.0.0.1:27017 --dir /tmp/ferretdb
//
// A port of 0 picks a free one.
//
// Once it is listening it prints one line to stdout, with the real address:
//
//	ferretdb ready mongodb://127.0.0.1:27017/
//
// and it exits cleanly on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "", "directory for FerretDB's SQLite databases (required)")
	// FerretDB logs every error reply at warn level, and the driver's
	// routine probes (endSessions, listIndexes of a new collection) fail by
	// design: warn would bury a test run in noise.
	var level slog.Level = slog.LevelError
	flag.TextVar(&level, "log-level", level, "log level: debug, info, warn or error")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, log, *listen, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, listen, dir string) error {
	if dir == "" {
		return errors.New("--dir is required")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: listen},
		Logger:   log,
		Handler:  "sqlite",
		// The trailing slash matters: FerretDB wants a directory URI.
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return fmt.Errorf("configure: %w", err)
	}

	// New has bound the listening socket already (so a port of 0 is resolved
	// and connections queue from now on); Run only starts accepting. That is
	// why the ready line can be printed before Run, and why it carries the
	// real address: callers pass port 0 and read the URI from this line
	// instead of guessing a free port.
	fmt.Printf("ferretdb ready %s\n", f.MongoDBURI())

	// Run returns once ctx is cancelled (a signal) and everything is closed.
	return f.Run(ctx)
}
