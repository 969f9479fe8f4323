package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crawlhub/crawlhub/wsapi"
)

const scheduleUsage = `crawlhub schedule: run spiders on a schedule.

Usage:
  crawlhub schedule add SPIDER --cron EXPR [--tz ZONE] [--name NAME] [--overlap skip|allow|queue]
                                [--misfire skip|once] [--all | --node NAME…] [--params P] [--timeout S] [--disabled]
  crawlhub schedule ls
  crawlhub schedule rm SCHEDULE          (an id or a name)

EXPR is five cron fields (minute hour day month weekday), six with seconds
first, or @hourly, @daily, @every 30s and the like. ZONE is an IANA name
(default UTC).
`

type scheduleJSON struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	SpiderName     string      `json:"spider_name"`
	Cron           string      `json:"cron"`
	Timezone       string      `json:"timezone"`
	Overlap        string      `json:"overlap"`
	Enabled        bool        `json:"enabled"`
	NextFire       time.Time   `json:"next_fire"`
	NextFires      []time.Time `json:"next_fires"`
	LastFire       time.Time   `json:"last_fire"`
	LastTaskStatus string      `json:"last_task_status"`
}

func runSchedule(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, scheduleUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "add":
		return scheduleAdd(ctx, args[1:])
	case "ls", "list":
		return scheduleList(ctx, args[1:])
	case "rm", "delete":
		return scheduleRemove(ctx, args[1:])
	}
	fmt.Fprintf(os.Stderr, "crawlhub schedule: unknown command %q\n\n%s", args[0], scheduleUsage)
	return errUsage
}

func scheduleAdd(ctx context.Context, args []string) error {
	fs := newFlags("schedule add", "crawlhub schedule add SPIDER --cron EXPR [--tz ZONE]: run a spider (by name or id) on a schedule.\nPrints the schedule's id and its next five fire times.")
	var cf clientFlags
	cf.register(fs)
	cron := fs.String("cron", "", "when to run: five cron fields, six with seconds first, or @hourly, @daily, @every 30s, …")
	tz := fs.String("tz", "", "the IANA timezone of the cron fields, e.g. Europe/Berlin (default UTC)")
	name := fs.String("name", "", "the schedule's name (default: the spider's name and the cron)")
	overlap := fs.String("overlap", "", "while a task of the schedule still runs: skip (default), allow or queue")
	misfire := fs.String("misfire", "", "fire times missed while no master ran: skip (default) or once")
	var nodes multiFlag
	fs.Var(&nodes, "node", "run on this node (name or id); repeat for several")
	all := fs.Bool("all", false, "run on every online node")
	params := fs.String("params", "", "appended to the spider's command")
	timeout := fs.Int64("timeout", 0, "stop each task after this many seconds (0: never)")
	disabled := fs.Bool("disabled", false, "create it paused")
	spider, err := parseWithArg(fs, args, "SPIDER")
	if err != nil {
		return quietHelp(err)
	}
	if *cron == "" {
		return fmt.Errorf("--cron is required, e.g. --cron '0 * * * *' (hourly) or --cron '@every 10m'")
	}
	c, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	req := map[string]any{"cron": *cron, "enabled": !*disabled}
	for k, v := range map[string]string{"timezone": *tz, "name": *name, "overlap": *overlap, "misfire": *misfire, "params": *params} {
		if v != "" {
			req[k] = v
		}
	}
	if *timeout != 0 {
		req["timeout"] = *timeout
	}
	if err := setTarget(ctx, c, req, spider, *all, nodes); err != nil {
		return err
	}
	var s scheduleJSON
	if err := c.Call(ctx, wsapi.MethodScheduleCreate, req, &s); err != nil {
		return err
	}
	fmt.Println(s.ID)
	fmt.Fprintf(os.Stderr, "crawlhub: schedule %q created; next fire times:\n", s.Name)
	loc := zone(s.Timezone)
	for _, t := range s.NextFires {
		fmt.Fprintf(os.Stderr, "  %s\n", t.In(loc).Format("Mon 2006-01-02 15:04:05 MST"))
	}
	return nil
}

func scheduleList(ctx context.Context, args []string) error {
	fs := newFlags("schedule ls", "crawlhub schedule ls: list the schedules.")
	var cf clientFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	c, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var l struct {
		Items []scheduleJSON `json:"items"`
	}
	if err := c.Call(ctx, wsapi.MethodSchedulesList, struct{}{}, &l); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tSPIDER\tCRON\tTIMEZONE\tENABLED\tNEXT FIRE\tLAST FIRE")
	for _, s := range l.Items {
		tz := s.Timezone
		if tz == "" {
			tz = "UTC"
		}
		loc := zone(s.Timezone)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\n", s.ID, s.Name, s.SpiderName, s.Cron, tz, s.Enabled,
			when(s.NextFire, loc), strings.TrimSpace(when(s.LastFire, loc)+" "+s.LastTaskStatus))
	}
	return w.Flush()
}

// when shows t in the schedule's timezone, by its abbreviation (CET, not
// +0100, which is all a time read from JSON knows).
func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// zone is the schedule's timezone, or UTC.
func zone(tz string) *time.Location {
	if loc, err := time.LoadLocation(tz); err == nil && tz != "" {
		return loc
	}
	return time.UTC
}

func scheduleRemove(ctx context.Context, args []string) error {
	fs := newFlags("schedule rm", "crawlhub schedule rm SCHEDULE: delete a schedule (by id or name). The tasks it fired stay.")
	var cf clientFlags
	cf.register(fs)
	which, err := parseWithArg(fs, args, "SCHEDULE")
	if err != nil {
		return quietHelp(err)
	}
	c, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	id := which
	if !(len(which) == 24 && isHex(which)) {
		var l struct {
			Items []scheduleJSON `json:"items"`
		}
		if err := c.Call(ctx, wsapi.MethodSchedulesList, struct{}{}, &l); err != nil {
			return err
		}
		id = ""
		for _, s := range l.Items {
			if s.Name == which {
				id = s.ID
			}
		}
		if id == "" {
			return fmt.Errorf("no schedule is named %q: crawlhub schedule ls lists them", which)
		}
	}
	if err := c.Call(ctx, wsapi.MethodScheduleDelete, map[string]string{"id": id}, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crawlhub: schedule %s deleted\n", which)
	return nil
}
