// Command crawlhub-bench is crawlhub's benchmark harness, run by `make
// bench`: it measures the master's WebSocket hub and the node RPC against
// the machine's limits and against Centrifugo, and writes BENCHMARKS.md and
// bench/results.json. See internal/bench.
//
// It is also, as sub-commands, the helper processes it starts: "emit" (a
// task writing numbered, timestamped log lines as fast as it can),
// "bare-server" (the bare gorilla/websocket ceiling) and "master" (a
// crawlhub master with a pprof listener, for profiles).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/crawlhub/crawlhub/internal/bench"
)

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "emit":
			err = bench.EmitMain(os.Args[2:])
		case "items":
			err = bench.ItemsMain(os.Args[2:])
		case "bare-server":
			err = bench.BareMain(os.Args[2:])
		case "master":
			err = bench.MasterMain(os.Args[2:])
		default:
			err = runBench(os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "crawlhub-bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := runBench(nil); err != nil {
		fmt.Fprintln(os.Stderr, "crawlhub-bench:", err)
		os.Exit(1)
	}
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("crawlhub-bench", flag.ContinueOnError)
	var cfg bench.Config
	var only string
	fs.StringVar(&cfg.OutDir, "out", "bench", "directory for results.json and profiles")
	fs.StringVar(&cfg.Markdown, "md", "BENCHMARKS.md", "the Markdown report to write; empty for none")
	fs.StringVar(&cfg.CrawlhubBin, "crawlhub", "", "the crawlhub binary to measure (required)")
	fs.StringVar(&cfg.FerretBin, "ferretdb", "", "the FerretDB test server binary, built from tools/ferretdb (required)")
	fs.StringVar(&cfg.CentrifugoBin, "centrifugo", "", "the Centrifugo v6 binary; empty: Centrifugo's columns say it is not available")
	fs.StringVar(&cfg.CentrifugoMissing, "centrifugo-missing", "not installed", "why Centrifugo is not available, when -centrifugo is empty")
	fs.StringVar(&cfg.WorkDir, "work", "", "directory for the processes' data and logs (default: a new temporary one, removed at the end)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the work directory (logs of every process)")
	fs.StringVar(&only, "only", "", "comma-separated scenarios to run (1-14, profiles); empty: all")
	fs.BoolVar(&cfg.Quick, "quick", false, "short runs to try the harness out (figures not comparable)")
	render := fs.Bool("render", false, "only write the Markdown report again from -out's results.json and notes.md")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *render {
		return bench.Render(cfg)
	}
	if cfg.CrawlhubBin == "" || cfg.FerretBin == "" {
		return fmt.Errorf("-crawlhub and -ferretdb are required (make bench builds them)")
	}
	for _, p := range []*string{&cfg.CrawlhubBin, &cfg.FerretBin, &cfg.CentrifugoBin} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return err
			}
			*p = abs
		}
	}
	if only != "" {
		cfg.Only = strings.Split(only, ",")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.HarnessBin = exe
	if cfg.WorkDir == "" {
		if cfg.WorkDir, err = os.MkdirTemp("", "crawlhub-bench-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	for _, t := range res.Targets {
		fmt.Fprintf(os.Stderr, "scenario %s: %s — %s (%s)\n", t.Scenario, t.Verdict, t.Target, t.Measured)
	}
	if cfg.Keep {
		fmt.Fprintln(os.Stderr, "process logs kept in", cfg.WorkDir)
	}
	return nil
}
