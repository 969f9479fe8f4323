package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/crawlhub/crawlhub/store"
)

// runNodeLoad prints a node's load history (GET /api/nodes/:id/metrics), a
// table for people or the response as it came with --json for scripts.
func runNodeLoad(ctx context.Context, args []string) error {
	fs := newFlags("load", "crawlhub load [--range 1h|24h|7d] [--json] NODE: a node's CPU, memory, disk, network and load over time\n(NODE is its id or its name).")
	var cf clientFlags
	cf.register(fs)
	rng := fs.String("range", "1h", "how far back: 1h (a point per 10 s), 24h (per minute) or 7d (per 10 minutes)")
	asJSON := fs.Bool("json", false, "print the API's JSON instead of a table")
	node, err := parseWithArg(fs, args, "NODE")
	if err != nil {
		return quietHelp(err)
	}
	id, err := nodeID(ctx, &cf, node)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := cf.rest(ctx, http.MethodGet, "/api/nodes/"+url.PathEscape(id)+"/metrics?range="+url.QueryEscape(*rng), nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Printf("%s\n", raw)
		return err
	}
	var m struct {
		Points []store.NodePoint `json:"points"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "TIME\tCPU %\tMEMORY\tDISK\tRX/s\tTX/s\tLOAD\t")
	for _, p := range m.Points {
		fmt.Fprintf(w, "%s\t%.1f\t%s / %s\t%s / %s\t%s\t%s\t%.2f\t\n", stamp(p.At), p.CPU, size(float64(p.MemUsed)), size(float64(p.MemTotal)),
			size(float64(p.DiskUsed)), size(float64(p.DiskTotal)), size(p.NetRx), size(p.NetTx), p.Load1)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(m.Points) == 0 {
		fmt.Fprintln(os.Stderr, "crawlhub: no points in that range yet: the node reports its load with each heartbeat")
	}
	return nil
}

// nodeID is node itself when it is an id, else the id of the node of that
// name.
func nodeID(ctx context.Context, cf *clientFlags, node string) (string, error) {
	var l struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := cf.rest(ctx, http.MethodGet, "/api/nodes", nil, &l); err != nil {
		return "", err
	}
	for _, n := range l.Items {
		if n.ID == node {
			return n.ID, nil
		}
	}
	for _, n := range l.Items {
		if n.Name == node {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("no node has the id or name %q: 'curl …/api/nodes' lists them", node)
}

// size is a byte count in binary units: 1536 → "1.5K".
func size(n float64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%.0fB", n)
	}
	i := -1
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%c", n, units[i])
}
