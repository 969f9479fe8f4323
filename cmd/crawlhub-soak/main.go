// Command crawlhub-soak is `make soak`: it runs a cluster of crawlhub
// processes under a mixed load for -duration, samples every process's
// memory, goroutines and open files, and fails when one grows without
// bound or a task or a log line is lost. See internal/soak and
// docs/soak.md.
//
// Its "emit" command is the spiders' command (numbered log lines, as
// make bench's).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/crawlhub/crawlhub/internal/bench"
	"github.com/crawlhub/crawlhub/internal/soak"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "emit" {
		if err := bench.EmitMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "crawlhub-soak emit:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "crawlhub-soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("crawlhub-soak", flag.ContinueOnError)
	var cfg soak.Config
	fs.StringVar(&cfg.CrawlhubBin, "crawlhub", "", "the crawlhub binary (required)")
	fs.StringVar(&cfg.FerretBin, "ferretdb", "", "the FerretDB test server, built from tools/ferretdb (required)")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Minute, "how long the load runs; the drain comes after")
	fs.IntVar(&cfg.Browsers, "browsers", 200, "browsers following logs")
	fs.StringVar(&cfg.WorkDir, "work", "", "directory for the processes' data and logs (default: a temporary one, removed at the end)")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the work directory")
	fs.StringVar(&cfg.Report, "report", "docs/soak.md", "the Markdown file that gets the report (between its markers); empty: none")
	fs.StringVar(&cfg.Chart, "chart", "docs/soak.svg", "the SVG chart of the samples; empty: none")
	fs.StringVar(&cfg.Samples, "samples", "docs/soak.json", "the run's samples and findings as JSON; empty: none")
	render := fs.Bool("render", false, "only write the chart and the report again from -samples (judged by the rule as it is now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *render {
		res, err := soak.Render(cfg)
		if err != nil {
			return err
		}
		return res.Failed()
	}
	if cfg.CrawlhubBin == "" || cfg.FerretBin == "" {
		return fmt.Errorf("-crawlhub and -ferretdb are required (make soak builds them)")
	}
	if cfg.Duration < time.Minute {
		return fmt.Errorf("-duration %v: at least 1m, so that each quarter of the run has samples", cfg.Duration)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.HarnessBin = self
	for _, p := range []*string{&cfg.CrawlhubBin, &cfg.FerretBin} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	res, err := soak.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if cfg.Report != "" {
		fmt.Fprintf(os.Stderr, "soak: report written to %s\n", cfg.Report)
	}
	if err := res.Failed(); err != nil {
		return fmt.Errorf("the soak failed:\n%w", err)
	}
	grew := "nothing grew"
	if res.Duration < soak.MinJudged {
		grew = "growth not judged (shorter than " + soak.MinJudged.String() + ")"
	}
	fmt.Fprintf(os.Stderr, "soak: passed: %v of load, %s, nothing lost\n", res.Duration, grew)
	return nil
}
