package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// The webhooks verb: alerts to webhooks and email (admins only), over the
// REST API.

const webhooksUsage = `crawlhub webhooks: alerts to webhooks and email (admins only).

Usage:
  crawlhub webhooks list
  crawlhub webhooks create --name NAME (--url URL | --email ADDR,ADDR) --events EV,EV
                           [--spiders SPIDER,SPIDER] [--format json|slack] [--secret-stdin] [--disabled]
                                   prints the secret deliveries are signed with (shown this once)
  crawlhub webhooks test WEBHOOK   send a test delivery now and say how it went
  crawlhub webhooks delete WEBHOOK

WEBHOOK is an id or a name. Events: task.finished, task.failed, task.cancelled,
node.offline, node.online, schedule.skipped. SPIDER is an id or a name.
`

type webhookJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	URL        string   `json:"url"`
	Recipients []string `json:"recipients"`
	Events     []string `json:"events"`
	SpiderIDs  []string `json:"spider_ids"`
	Secret     string   `json:"secret"`
	Format     string   `json:"format"`
	Enabled    bool     `json:"enabled"`
}

type webhookDeliveryJSON struct {
	ID        string    `json:"id"`
	Event     string    `json:"event"`
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	Response  int       `json:"response_status"`
	Updated   time.Time `json:"updated"`
}

func runWebhooks(ctx context.Context, args []string) error {
	return subcommand(ctx, "webhooks", webhooksUsage, args, map[string]func(context.Context, []string) error{
		"list": webhooksList, "ls": webhooksList, "create": webhooksCreate, "add": webhooksCreate,
		"test": webhooksTest, "delete": webhooksDelete, "rm": webhooksDelete,
	})
}

func webhooksList(ctx context.Context, args []string) error {
	fs := newFlags("webhooks list", "crawlhub webhooks list: every webhook and email channel.")
	var cf clientFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	var l struct {
		Items []webhookJSON `json:"items"`
	}
	if err := cf.rest(ctx, http.MethodGet, "/api/webhooks", nil, &l); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tKIND\tTO\tEVENTS\tSPIDERS\tENABLED")
	for _, h := range l.Items {
		to := h.URL
		if h.Kind == "email" {
			to = strings.Join(h.Recipients, ",")
		}
		spiders := "all"
		if len(h.SpiderIDs) > 0 {
			spiders = strings.Join(h.SpiderIDs, ",")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", h.ID, h.Name, h.Kind, to, strings.Join(h.Events, ","), spiders, h.Enabled)
	}
	return w.Flush()
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func webhooksCreate(ctx context.Context, args []string) error {
	fs := newFlags("webhooks create", "crawlhub webhooks create: a webhook (--url) or an email channel (--email) for the --events given;\nprints the secret its deliveries are signed with, this once.")
	var cf clientFlags
	cf.register(fs)
	name := fs.String("name", "", "what the channel is for, e.g. ops-slack")
	hook := fs.String("url", "", "http or https URL to POST each delivery to")
	email := fs.String("email", "", "comma-separated recipients (instead of --url; the master needs --smtp-addr)")
	events := fs.String("events", "", "comma-separated events: task.finished, task.failed, task.cancelled, node.offline, node.online, schedule.skipped")
	spiders := fs.String("spiders", "", "comma-separated spiders (ids or names) whose task and schedule events to send (default: every spider's)")
	format := fs.String("format", "json", "payload: json (generic) or slack ({\"text\": ...}, for Slack and compatible chats)")
	secretStdin := fs.Bool("secret-stdin", false, "read the signing secret from the first line of stdin (default: the master makes one)")
	disabled := fs.Bool("disabled", false, "create it disabled")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	switch {
	case *name == "":
		return errors.New("--name is required: say what the channel is for, e.g. --name ops-slack")
	case (*hook == "") == (*email == ""):
		return errors.New("give one of --url (a webhook) or --email (recipients)")
	case *events == "":
		return errors.New("--events is required, e.g. --events task.failed,node.offline")
	}
	req := map[string]any{"name": *name, "events": splitList(*events), "format": *format, "enabled": !*disabled}
	if *hook != "" {
		req["kind"], req["url"] = "webhook", *hook
	} else {
		req["kind"], req["recipients"] = "email", splitList(*email)
	}
	if *spiders != "" {
		ids, err := spiderIDs(ctx, &cf, splitList(*spiders))
		if err != nil {
			return err
		}
		req["spider_ids"] = ids
	}
	if *secretStdin {
		line, err := readLine(os.Stdin)
		if err != nil {
			return fmt.Errorf("--secret-stdin: %w", err)
		}
		req["secret"] = line
	}
	var out webhookJSON
	if err := cf.rest(ctx, http.MethodPost, "/api/webhooks", req, &out); err != nil {
		return err
	}
	if !*secretStdin {
		fmt.Println(out.Secret)
	}
	fmt.Fprintf(os.Stderr, "crawlhub: %s %q (id %s) created for %s", out.Kind, out.Name, out.ID, strings.Join(out.Events, ", "))
	if !*secretStdin {
		fmt.Fprint(os.Stderr, "; its signing secret is shown this once: keep it now")
	}
	fmt.Fprintln(os.Stderr)
	return nil
}

// readLine is the first line of r, without its end.
func readLine(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimRight(line, "\r"); line == "" {
		return "", errors.New("stdin is empty")
	}
	return line, nil
}

// spiderIDs resolves spiders given by id or name.
func spiderIDs(ctx context.Context, cf *clientFlags, refs []string) ([]string, error) {
	var l struct {
		Items []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := cf.rest(ctx, http.MethodGet, "/api/spiders", nil, &l); err != nil {
		return nil, err
	}
	var ids []string
next:
	for _, ref := range refs {
		for _, sp := range l.Items {
			if sp.ID == ref || sp.Name == ref {
				ids = append(ids, sp.ID)
				continue next
			}
		}
		return nil, fmt.Errorf("no spider is named %q or has that id", ref)
	}
	return ids, nil
}

// webhookID resolves a webhook given by id or name.
func webhookID(ctx context.Context, cf *clientFlags, ref string) (string, error) {
	var l struct {
		Items []webhookJSON `json:"items"`
	}
	if err := cf.rest(ctx, http.MethodGet, "/api/webhooks", nil, &l); err != nil {
		return "", err
	}
	for _, h := range l.Items {
		if h.ID == ref || h.Name == ref {
			return h.ID, nil
		}
	}
	return "", fmt.Errorf("no webhook is named %q or has that id: see crawlhub webhooks list", ref)
}

func webhooksTest(ctx context.Context, args []string) error {
	fs := newFlags("webhooks test", "crawlhub webhooks test WEBHOOK: send a test delivery now; fails if it was not delivered.")
	var cf clientFlags
	cf.register(fs)
	ref, err := parseWithArg(fs, args, "WEBHOOK")
	if err != nil {
		return quietHelp(err)
	}
	id, err := webhookID(ctx, &cf, ref)
	if err != nil {
		return err
	}
	var d webhookDeliveryJSON
	if err := cf.rest(ctx, http.MethodPost, "/api/webhooks/"+url.PathEscape(id)+"/test", nil, &d); err != nil {
		return err
	}
	if d.Status != "delivered" {
		return fmt.Errorf("test delivery %s %s: %s", d.ID, d.Status, d.LastError)
	}
	how := ""
	if d.Response != 0 {
		how = fmt.Sprintf(" (the receiver answered %d)", d.Response)
	}
	fmt.Fprintf(os.Stderr, "crawlhub: test delivery %s delivered%s\n", d.ID, how)
	return nil
}

func webhooksDelete(ctx context.Context, args []string) error {
	fs := newFlags("webhooks delete", "crawlhub webhooks delete WEBHOOK: delete a webhook and its deliveries.")
	var cf clientFlags
	cf.register(fs)
	ref, err := parseWithArg(fs, args, "WEBHOOK")
	if err != nil {
		return quietHelp(err)
	}
	id, err := webhookID(ctx, &cf, ref)
	if err != nil {
		return err
	}
	if err := cf.rest(ctx, http.MethodDelete, "/api/webhooks/"+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crawlhub: webhook %s deleted\n", id)
	return nil
}
