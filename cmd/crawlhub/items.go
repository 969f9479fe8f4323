package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/crawlhub/crawlhub/client"
)

func runItems(ctx context.Context, args []string) error {
	fs := newFlags("items", "crawlhub items [-f] [--format ndjson|csv] TASK_ID: print a task's items, one JSON object a line\n(ndjson) or as CSV. With -f, follow them until the task ends; the exit status is 0 if the\ntask finished, 1 otherwise.")
	var cf clientFlags
	cf.register(fs)
	follow := fs.Bool("f", false, "follow the items until the task ends")
	format := fs.String("format", "ndjson", "ndjson (one JSON object a line) or csv (a column per top-level key)")
	taskID, err := parseWithArg(fs, args, "TASK_ID")
	if err != nil {
		return quietHelp(err)
	}
	if *format != "ndjson" && *format != "csv" {
		return fmt.Errorf("--format %s: use ndjson or csv", *format)
	}
	if err := cf.check(); err != nil {
		return err
	}
	if !*follow {
		return exportItems(ctx, &cf, taskID, *format, os.Stdout)
	}
	return followItems(ctx, &cf, taskID, *format, os.Stdout)
}

// exportItems copies the task's export (GET /api/tasks/:id/items/export)
// to w: the master streams it, so any number of items takes no memory
// here.
func exportItems(ctx context.Context, cf *clientFlags, taskID, format string, w io.Writer) error {
	u := strings.TrimSuffix(cf.server, "/") + "/api/tasks/" + url.PathEscape(taskID) + "/items/export?format=" + format
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("server url %q: %w", cf.server, err)
	}
	req.Header.Set("Authorization", "Bearer "+cf.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) == nil && e.Message != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Message, resp.StatusCode)
		}
		return fmt.Errorf("export: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("export cut short: %w", err)
	}
	return nil
}

// followItems prints the task's items as they arrive until it ends; a
// task that did not finish is an errTaskFailed (exit status 1). As CSV,
// the columns are the first item's top-level keys: the header goes out
// before later items are known, so keys they add are left out (and named
// once on stderr); the export (without -f) has every key.
func followItems(ctx context.Context, cf *clientFlags, taskID, format string, out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	defer w.Flush()
	var row func(json.RawMessage) error
	if format == "csv" {
		row = csvFollower(w)
	} else {
		row = func(item json.RawMessage) error {
			if _, err := w.Write(item); err != nil {
				return err
			}
			return w.WriteByte('\n')
		}
	}
	status, err := client.FollowItems(ctx, cf.server, cf.token, taskID, 0, func(_ int64, item json.RawMessage) error {
		if err := row(item); err != nil {
			return err
		}
		if w.Buffered() > 32<<10 {
			return w.Flush()
		}
		return nil
	})
	w.Flush()
	return followed(taskID, status, err)
}

// csvFollower writes items as CSV rows, the columns fixed by the first
// one (see followItems). A cell is a string's text, empty for null or a
// missing key, else the value's JSON text.
func csvFollower(w io.Writer) func(json.RawMessage) error {
	cw := csv.NewWriter(w)
	var columns []string
	index := map[string]int{}
	var row []string
	warned := map[string]bool{}
	return func(item json.RawMessage) error {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(item, &obj); err != nil {
			return fmt.Errorf("an item is not a JSON object: %w", err)
		}
		if columns == nil {
			columns = topKeys(item)
			for i, k := range columns {
				index[k] = i
			}
			row = make([]string, len(columns))
			if err := cw.Write(columns); err != nil {
				return err
			}
		}
		clear(row)
		for k, v := range obj {
			i, ok := index[k]
			if !ok {
				if !warned[k] {
					warned[k] = true
					fmt.Fprintf(os.Stderr, "crawlhub: key %q first seen after the CSV header; left out (crawlhub items without -f exports every key)\n", k)
				}
				continue
			}
			switch {
			case len(v) > 0 && v[0] == '"':
				_ = json.Unmarshal(v, &row[i])
			case string(v) == "null":
			default:
				var b bytes.Buffer
				if json.Compact(&b, v) == nil {
					v = b.Bytes()
				}
				row[i] = string(v)
			}
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		cw.Flush()
		return cw.Error()
	}
}

// topKeys are a JSON object's top-level keys, in order.
func topKeys(obj json.RawMessage) []string {
	dec := json.NewDecoder(bytes.NewReader(obj))
	keys := []string{}
	if _, err := dec.Token(); err != nil {
		return keys
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		k, _ := tok.(string)
		keys = append(keys, k)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return keys
		}
	}
	return keys
}
