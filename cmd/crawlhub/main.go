// Command crawlhub runs a master (crawlhub server), a work node (crawlhub
// agent), or both in one process with no Redis and no MongoDB to install
// (crawlhub with no sub-command: the all-in-one default).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `crawlhub runs web crawlers ("spiders") on a cluster of machines.

Usage:
  crawlhub [flags]          all-in-one: a master and an agent in one process,
                            SQLite under ./data, no Redis or MongoDB needed
  crawlhub server [flags]   a master: dashboard, REST and WebSocket API
  crawlhub agent [flags]    a work node
  crawlhub run SPIDER [--node NAME] [--follow]
                            run a spider; with --follow, print its log until it ends
  crawlhub logs [-f] TASK_ID
                            print (or follow) a task's log
  crawlhub logs search TASK_ID QUERY [--regex] [--case] [--level error|warning]
                            the lines of a task's log that match, as "line: text"
  crawlhub items [-f] [--format ndjson|csv] TASK_ID
                            print (or follow) the items a task saved
  crawlhub schedule add SPIDER --cron EXPR [--tz ZONE]
  crawlhub schedule ls | rm SCHEDULE
                            run a spider on a schedule; list or delete schedules
  crawlhub stats [--from T] [--to T] [--bucket hour|day] [--json]
                            how tasks ended: by hour or day, and per spider
  crawlhub whoami           who the --token acts as
  crawlhub tokens list | create --name N [--role R] [--expires 720h] | revoke ID
                            your API tokens
  crawlhub users list | create --username U [--role R] | set USER [--role R]
                 [--disable|--enable] [--password-stdin] | delete USER
                            manage users (admins)
  crawlhub audit [--action A] [--limit N]
                            who did what (admins)
  crawlhub load [--range 1h|24h|7d] [--json] NODE
                            a node's CPU, memory, disk, network and load over time
  crawlhub webhooks list | create --name N (--url U | --email A) --events E | test ID | delete ID
                            alerts to webhooks and email (admins)
  crawlhub version

Run 'crawlhub COMMAND --help' for the flags of a command. Every flag can
also be set with an environment variable: --redis is CRAWLHUB_REDIS,
--allowed-origins is CRAWLHUB_ALLOWED_ORIGINS, and so on.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		var tf errTaskFailed
		if errors.As(err, &tf) {
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "crawlhub:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := ""
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "":
		return runAllInOne(ctx, args)
	case "server":
		return runServer(ctx, args)
	case "agent":
		return runAgent(ctx, args)
	case "logs":
		return runLogs(ctx, args)
	case "items":
		return runItems(ctx, args)
	case "run":
		return runRun(ctx, args)
	case "schedule":
		return runSchedule(ctx, args)
	case "stats":
		return runStats(ctx, args)
	case "whoami":
		return runWhoami(ctx, args)
	case "tokens":
		return runTokens(ctx, args)
	case "users":
		return runUsers(ctx, args)
	case "audit":
		return runAudit(ctx, args)
	case "load":
		return runNodeLoad(ctx, args)
	case "webhooks":
		return runWebhooks(ctx, args)
	case "version":
		fmt.Println("crawlhub", version)
		return nil
	case "help":
		fmt.Print(usage)
		return nil
	}
	fmt.Fprintf(os.Stderr, "crawlhub: unknown command %q\n\n%s", cmd, usage)
	return errUsage
}
