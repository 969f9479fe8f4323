package main

import (
	"bufio"
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

// The accounts verbs: whoami, tokens, users and audit, over the REST API
// with the --token they are given (what it may do is its role's business,
// checked by the master).

type userJSON struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Role     string    `json:"role"`
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

type credentialJSON struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	UserID   string    `json:"user_id"`
	Role     string    `json:"role"`
	Expires  time.Time `json:"expires"`
	LastUsed time.Time `json:"last_used"`
	Created  time.Time `json:"created"`
}

type auditJSON struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Address string    `json:"address"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Detail  string    `json:"detail"`
}

// stamp shows a time in the local zone, or "-" for none.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func runWhoami(ctx context.Context, args []string) error {
	fs := newFlags("whoami", "crawlhub whoami: who the --token acts as, and with which role.")
	var cf clientFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	var me struct {
		User      userJSON `json:"user"`
		Role      string   `json:"role"`
		Kind      string   `json:"kind"`
		TokenName string   `json:"token_name"`
	}
	if err := cf.rest(ctx, http.MethodGet, "/api/me", nil, &me); err != nil {
		return err
	}
	how := me.Kind
	if me.TokenName != "" {
		how += " " + me.TokenName
	}
	fmt.Printf("%s (role %s, signed in with %s)\n", me.User.Username, me.Role, how)
	return nil
}

const tokensUsage = `crawlhub tokens: your API tokens (an admin's lists everyone's).

Usage:
  crawlhub tokens list [--user USER_ID]
  crawlhub tokens create --name NAME [--role ROLE] [--expires 720h]
                                   prints the new token (shown this once)
  crawlhub tokens revoke TOKEN_ID  stops the token at once, open WebSockets included
`

func runTokens(ctx context.Context, args []string) error {
	return subcommand(ctx, "tokens", tokensUsage, args, map[string]func(context.Context, []string) error{
		"list": tokensList, "ls": tokensList, "create": tokensCreate, "revoke": tokensRevoke, "rm": tokensRevoke,
	})
}

// subcommand runs the verb args[0] names, or prints usage.
func subcommand(ctx context.Context, name, usage string, args []string, verbs map[string]func(context.Context, []string) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, usage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if f, ok := verbs[args[0]]; ok {
		return f(ctx, args[1:])
	}
	fmt.Fprintf(os.Stderr, "crawlhub %s: unknown command %q\n\n%s", name, args[0], usage)
	return errUsage
}

func tokensList(ctx context.Context, args []string) error {
	fs := newFlags("tokens list", "crawlhub tokens list: your API tokens; an admin's lists everyone's (--user for one user's).")
	var cf clientFlags
	cf.register(fs)
	user := fs.String("user", "", "only this user's tokens (a user id; admins only)")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	path := "/api/tokens"
	if *user != "" {
		path += "?user_id=" + url.QueryEscape(*user)
	}
	var l struct {
		Items []credentialJSON `json:"items"`
	}
	if err := cf.rest(ctx, http.MethodGet, path, nil, &l); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tNAME\tROLE\tUSER\tEXPIRES\tLAST USED\tCREATED")
	for _, t := range l.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.UserID, stamp(t.Expires), stamp(t.LastUsed), stamp(t.Created))
	}
	return w.Flush()
}

func tokensCreate(ctx context.Context, args []string) error {
	fs := newFlags("tokens create", "crawlhub tokens create --name NAME [--role ROLE] [--expires 720h]: a new API token, printed on\nstdout this once (the master keeps only a hash). Its role is at most yours.")
	var cf clientFlags
	cf.register(fs)
	name := fs.String("name", "", "what uses the token, e.g. ci-deploy")
	role := fs.String("role", "", "viewer, operator or admin (default: your role)")
	expires := fs.Duration("expires", 0, "the token stops working after this long, e.g. 720h (default: never)")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	if *name == "" {
		return errors.New("--name is required: say what uses the token, e.g. --name ci-deploy")
	}
	if *expires < 0 {
		return fmt.Errorf("--expires %s: give a positive duration, e.g. 720h", *expires)
	}
	req := map[string]any{"name": *name}
	if *role != "" {
		req["role"] = *role
	}
	if *expires > 0 {
		req["expires"] = time.Now().Add(*expires).UTC().Format(time.RFC3339)
	}
	var out struct {
		Token      string         `json:"token"`
		Credential credentialJSON `json:"credential"`
	}
	if err := cf.rest(ctx, http.MethodPost, "/api/tokens", req, &out); err != nil {
		return err
	}
	fmt.Println(out.Token)
	exp := "never expires"
	if !out.Credential.Expires.IsZero() {
		exp = "expires " + stamp(out.Credential.Expires)
	}
	fmt.Fprintf(os.Stderr, "crawlhub: token %q (id %s, role %s, %s) created; it is shown this once: keep it now\n",
		out.Credential.Name, out.Credential.ID, out.Credential.Role, exp)
	return nil
}

func tokensRevoke(ctx context.Context, args []string) error {
	fs := newFlags("tokens revoke", "crawlhub tokens revoke TOKEN_ID: stop a token at once (WebSockets it opened are closed).")
	var cf clientFlags
	cf.register(fs)
	id, err := parseWithArg(fs, args, "TOKEN_ID")
	if err != nil {
		return quietHelp(err)
	}
	if err := cf.rest(ctx, http.MethodDelete, "/api/tokens/"+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crawlhub: token %s revoked\n", id)
	return nil
}

const usersUsage = `crawlhub users: manage who signs in (admins only).

Usage:
  crawlhub users list
  crawlhub users create --username NAME [--role ROLE] [--password-stdin]
  crawlhub users set USER [--role ROLE] [--disable | --enable] [--password-stdin]
  crawlhub users delete USER

USER is an id or a username. The password is read from the first line of
stdin with --password-stdin; 'users create' also takes it from the
environment variable CRAWLHUB_PASSWORD. Passwords are never command-line
arguments, which other users of the machine could read.
`

func runUsers(ctx context.Context, args []string) error {
	return subcommand(ctx, "users", usersUsage, args, map[string]func(context.Context, []string) error{
		"list": usersList, "ls": usersList, "create": usersCreate, "add": usersCreate,
		"set": usersSet, "delete": usersDelete, "rm": usersDelete,
	})
}

func usersList(ctx context.Context, args []string) error {
	fs := newFlags("users list", "crawlhub users list: every user, with role and state.")
	var cf clientFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	users, err := listUsers(ctx, &cf)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tUSERNAME\tROLE\tSTATE\tCREATED")
	for _, u := range users {
		state := "enabled"
		if u.Disabled {
			state = "disabled"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.Role, state, stamp(u.Created))
	}
	return w.Flush()
}

func listUsers(ctx context.Context, cf *clientFlags) ([]userJSON, error) {
	var l struct {
		Items []userJSON `json:"items"`
	}
	err := cf.rest(ctx, http.MethodGet, "/api/users", nil, &l)
	return l.Items, err
}

// userID resolves USER: an id as it is, a username through the list.
func userID(ctx context.Context, cf *clientFlags, which string) (string, error) {
	if len(which) == 24 && isHex(which) {
		return which, nil
	}
	users, err := listUsers(ctx, cf)
	if err != nil {
		return "", err
	}
	for _, u := range users {
		if u.Username == which {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("no user is named %q: crawlhub users list lists them", which)
}

// readPassword reads the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: stdin had no password on its first line")
	}
	return pw, nil
}

func usersCreate(ctx context.Context, args []string) error {
	fs := newFlags("users create", "crawlhub users create --username NAME [--role ROLE] [--password-stdin]: a new user who signs in\nto the dashboard. The password comes from stdin or CRAWLHUB_PASSWORD.")
	var cf clientFlags
	cf.register(fs)
	username := fs.String("username", "", "1 to 64 letters, digits, dots, underscores or hyphens")
	role := fs.String("role", "viewer", "viewer, operator or admin")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	if *username == "" {
		return errors.New("--username is required")
	}
	pw := os.Getenv("CRAWLHUB_PASSWORD")
	if *fromStdin {
		var err error
		if pw, err = readPassword(os.Stdin); err != nil {
			return err
		}
	}
	if pw == "" {
		return errors.New("no password: pipe it in with --password-stdin, or set CRAWLHUB_PASSWORD")
	}
	var u userJSON
	if err := cf.rest(ctx, http.MethodPost, "/api/users", map[string]string{"username": *username, "password": pw, "role": *role}, &u); err != nil {
		return err
	}
	fmt.Println(u.ID)
	fmt.Fprintf(os.Stderr, "crawlhub: user %s (%s) created\n", u.Username, u.Role)
	return nil
}

func usersSet(ctx context.Context, args []string) error {
	fs := newFlags("users set", "crawlhub users set USER [--role ROLE] [--disable | --enable] [--password-stdin]: change a user.\nDisabling signs them out and revokes their tokens; a new password signs them out of the dashboard.")
	var cf clientFlags
	cf.register(fs)
	role := fs.String("role", "", "the new role: viewer, operator or admin")
	disable := fs.Bool("disable", false, "stop the user signing in; their sessions and tokens are deleted")
	enable := fs.Bool("enable", false, "let a disabled user sign in again")
	fromStdin := fs.Bool("password-stdin", false, "set the password read from the first line of stdin")
	which, err := parseWithArg(fs, args, "USER")
	if err != nil {
		return quietHelp(err)
	}
	req := map[string]any{}
	if *role != "" {
		req["role"] = *role
	}
	switch {
	case *disable && *enable:
		return errors.New("--disable and --enable contradict each other: give one")
	case *disable:
		req["disabled"] = true
	case *enable:
		req["disabled"] = false
	}
	if *fromStdin {
		pw, err := readPassword(os.Stdin)
		if err != nil {
			return err
		}
		req["password"] = pw
	}
	if len(req) == 0 {
		return errors.New("nothing to change: give --role, --disable, --enable or --password-stdin")
	}
	id, err := userID(ctx, &cf, which)
	if err != nil {
		return err
	}
	var u userJSON
	if err := cf.rest(ctx, http.MethodPut, "/api/users/"+url.PathEscape(id), req, &u); err != nil {
		return err
	}
	state := "enabled"
	if u.Disabled {
		state = "disabled"
	}
	fmt.Fprintf(os.Stderr, "crawlhub: user %s is %s, %s\n", u.Username, u.Role, state)
	return nil
}

func usersDelete(ctx context.Context, args []string) error {
	fs := newFlags("users delete", "crawlhub users delete USER: delete a user, their sessions and their tokens.")
	var cf clientFlags
	cf.register(fs)
	which, err := parseWithArg(fs, args, "USER")
	if err != nil {
		return quietHelp(err)
	}
	id, err := userID(ctx, &cf, which)
	if err != nil {
		return err
	}
	if err := cf.rest(ctx, http.MethodDelete, "/api/users/"+url.PathEscape(id), nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "crawlhub: user %s deleted\n", which)
	return nil
}

func runAudit(ctx context.Context, args []string) error {
	fs := newFlags("audit", "crawlhub audit [--action A] [--user USER_ID] [--target T] [--limit N]: who did what, newest first\n(admins only).")
	var cf clientFlags
	cf.register(fs)
	action := fs.String("action", "", "only this action, e.g. task.cancel, user.update, auth.login_failed")
	user := fs.String("user", "", "only what this user (an id) did")
	target := fs.String("target", "", "only what was done to this (a task, spider or schedule id, a username …)")
	limit := fs.Int("limit", 50, "at most this many entries (1 to 1000)")
	offset := fs.Int("offset", 0, "skip this many of the newest entries")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	q := url.Values{}
	for k, v := range map[string]string{"action": *action, "user_id": *user, "target": *target} {
		if v != "" {
			q.Set(k, v)
		}
	}
	q.Set("limit", fmt.Sprint(*limit))
	q.Set("offset", fmt.Sprint(*offset))
	var l struct {
		Items []auditJSON `json:"items"`
		Total int         `json:"total"`
	}
	if err := cf.rest(ctx, http.MethodGet, "/api/audit?"+q.Encode(), nil, &l); err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tACTOR\tACTION\tTARGET\tDETAIL\tADDRESS")
	for _, e := range l.Items {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", stamp(e.Time), e.Actor, e.Action, dash(e.Target), dash(e.Detail), dash(e.Address))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if shown := *offset + len(l.Items); shown < l.Total {
		fmt.Fprintf(os.Stderr, "crawlhub: %d of %d entries shown; --offset %d for the next page\n", len(l.Items), l.Total, shown)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
