package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// searchPage is how many matches one task.log.search call asks for (the
// API's largest page).
const searchPage = 1000

// runLogSearch is crawlhub logs search TASK_ID QUERY: the matching lines
// of a task's whole log, running or ended, as "line: text".
func runLogSearch(ctx context.Context, args []string) error {
	fs := newFlags("logs search", "crawlhub logs search TASK_ID [QUERY] [--regex] [--case] [--level error|warning]: print the lines of\n"+
		"a task's log that contain QUERY (ignoring case unless --case), or match it as an RE2 regular\n"+
		"expression with --regex, as \"line: text\" (lines numbered from 0). --level keeps the lines counted\n"+
		"as errors or warnings. The count of matches goes to stderr. Put -- before a QUERY starting with '-'.")
	var cf clientFlags
	cf.register(fs)
	regex := fs.Bool("regex", false, "QUERY is an RE2 regular expression, as written ((?i) ignores case)")
	matchCase := fs.Bool("case", false, "match QUERY's case (a plain QUERY ignores case by default)")
	level := fs.String("level", "", "only the lines counted as error or warning")
	from := fs.Int64("from", 0, "the first line to print matches from")
	limit := fs.Int("limit", 1000, "print at most this many matches (0: all)")
	countOnly := fs.Bool("count", false, "print only the number of matches")
	pos, err := positionals(fs, args)
	if err != nil {
		return quietHelp(err)
	}
	if len(pos) < 1 || len(pos) > 2 || len(pos) == 1 && *level == "" {
		fmt.Fprintln(fs.Output(), "TASK_ID and QUERY are required (QUERY may be left out with --level)")
		fs.Usage()
		return errUsage
	}
	if err := cf.check(); err != nil {
		return err
	}
	q := wire.SearchLog{TaskID: pos[0], Regex: *regex, Case: *matchCase, Level: *level, From: *from}
	if len(pos) == 2 {
		q.Q = pos[1]
	}
	c, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	printed := 0
	for {
		q.Limit = searchPage
		if *limit > 0 {
			q.Limit = min(searchPage, *limit-printed)
		}
		var res wire.LogSearch
		if err := c.Call(ctx, wsapi.MethodTaskLogSearch, q, &res); err != nil {
			return err
		}
		if *countOnly {
			fmt.Fprintln(w, res.Count)
			return nil
		}
		for _, m := range res.Matches {
			cut := ""
			if m.Cut {
				cut = " […]"
			}
			fmt.Fprintf(w, "%d: %s%s\n", m.Line, m.Text, cut)
		}
		printed += len(res.Matches)
		if res.Next < 0 || *limit > 0 && printed >= *limit {
			w.Flush()
			more := ""
			if res.Next >= 0 {
				more = fmt.Sprintf("; more from line %d (--from %d)", res.Next, res.Next)
			}
			fmt.Fprintf(os.Stderr, "crawlhub: %d matches in %d lines%s\n", res.Count, res.Total, more)
			return nil
		}
		q.From = res.Next
	}
}

// positionals parses fs from args, where flags and positional arguments
// may come in any order and "--" ends the flags, and returns the
// positional arguments.
func positionals(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && a != "-":
			flags = append(flags, a)
			if flagTakesValue(fs, a) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			pos = append(pos, a)
		}
	}
	return pos, parse(fs, flags)
}
