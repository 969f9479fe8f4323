package agent

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/store"
)

// The items endpoint: one HTTP server per agent, on loopback (or a unix
// socket), where a task's spider POSTs its items as NDJSON to the URL in
// its CRAWLHUB_ITEMS_URL. Only processes on the node can reach it, and
// each task's URL holds a secret of its own, so a task can save items to
// no task but itself.

// maxItemsBody bounds one request: the whole body is checked before any
// item is kept, so it is held in memory.
const maxItemsBody = 64 << 20

// itemsShutdown is how long the endpoint waits for requests in flight
// when the agent stops (its tasks have ended by then).
const itemsShutdown = 5 * time.Second

// listenItems opens the items endpoint's listener and returns it with the
// base of the tasks' items URLs.
func (a *Agent) listenItems() (net.Listener, string, error) {
	if p := a.cfg.ItemsSocket; p != "" {
		// A socket left by an agent that died would make Listen fail.
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(p)
		}
		ln, err := net.Listen("unix", p)
		if err != nil {
			return nil, "", fmt.Errorf("agent: items endpoint on unix socket %s: %w", p, err)
		}
		// Only the agent's user (and so its tasks) may connect.
		if err := os.Chmod(p, 0o600); err != nil {
			ln.Close()
			return nil, "", fmt.Errorf("agent: items endpoint on unix socket %s: %w", p, err)
		}
		return ln, "http+unix://" + url.PathEscape(p), nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("agent: items endpoint on loopback: %w", err)
	}
	return ln, "http://" + ln.Addr().String(), nil
}

// serveItems serves the items endpoint on ln until stop is called, which
// waits for the requests in flight (at most itemsShutdown) and for the
// server's goroutine.
func (a *Agent) serveItems(ln net.Listener) (stop func()) {
	mux := http.NewServeMux()
	mux.HandleFunc("/tasks/{id}/items", a.handleItems)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, itemsError{Error: "no such endpoint: POST items to the URL in CRAWLHUB_ITEMS_URL"})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("items endpoint stopped", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), itemsShutdown)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-done
	}
}

// itemsURL is the URL a task POSTs its items to.
func (a *Agent) itemsURL(taskID, secret string) string {
	return a.itemsBase + "/tasks/" + taskID + "/items?secret=" + secret
}

// itemsError is the body of every error reply; Line is the body's line
// (from 1) that made the request fail, when one did.
type itemsError struct {
	Error string `json:"error"`
	Line  int    `json:"line,omitempty"`
}

// itemsAccepted is the body of a success: how many items the request
// added, and how many the task has saved in all.
type itemsAccepted struct {
	Accepted int   `json:"accepted"`
	Total    int64 `json:"total"`
}

func (a *Agent) handleItems(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, itemsError{Error: r.Method + " is not allowed: POST the items as NDJSON, one JSON object per line"})
		return
	}
	id := r.PathValue("id")
	a.mu.Lock()
	ti := a.items[id]
	a.mu.Unlock()
	if ti == nil {
		writeJSON(w, http.StatusNotFound, itemsError{Error: notRunning(id)})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("secret")), []byte(ti.secret)) != 1 {
		writeJSON(w, http.StatusForbidden, itemsError{Error: "wrong secret for task " + id + ": use the CRAWLHUB_ITEMS_URL the task was given, unchanged"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxItemsBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeJSON(w, http.StatusRequestEntityTooLarge, itemsError{Error: fmt.Sprintf(
				"the request body is over %d MiB; nothing was kept: send the items in smaller batches", maxItemsBody>>20)})
			return
		}
		writeJSON(w, http.StatusBadRequest, itemsError{Error: "reading the request body: " + err.Error() + "; nothing was kept"})
		return
	}
	items, n, lerr := parseItems(body)
	if lerr != nil {
		writeJSON(w, http.StatusBadRequest, itemsError{Error: lerr.Error() + "; nothing was kept", Line: lerr.line})
		return
	}
	total, err := ti.add(items)
	switch {
	case errors.Is(err, errItemsEnded):
		writeJSON(w, http.StatusNotFound, itemsError{Error: notRunning(id)})
	case err != nil:
		a.log.Error("items not written to the spool file", "task_id", id, "err", err)
		writeJSON(w, http.StatusInternalServerError, itemsError{Error: "the agent could not write the items to its disk (" + err.Error() + "); some of them may have been kept"})
	default:
		writeJSON(w, http.StatusOK, itemsAccepted{Accepted: n, Total: total})
	}
}

func notRunning(taskID string) string {
	return "task " + taskID + " is not running on this node (it has ended, or never ran here): items can be saved only while it runs"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// lineError is why a line of a request body is not an item.
type lineError struct {
	line int // from 1
	msg  string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseItems checks every line of an NDJSON body and returns the items,
// each compact, valid UTF-8 and followed by '\n', and how many there are.
// Blank lines are skipped and "\r\n" ends a line as '\n' does. The first
// line that is not an item fails the whole body, so a request is kept
// whole or not at all and a retried request never stores its first half
// twice.
func parseItems(body []byte) ([]byte, int, *lineError) {
	out := make([]byte, 0, len(body)+1)
	n := 0
	for lineNo := 1; len(body) > 0; lineNo++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		start := len(out)
		var err error
		if out, err = appendItem(out, line); err != nil {
			return nil, 0, &lineError{line: lineNo, msg: err.Error()}
		}
		out = append(out, '\n')
		if size := len(out) - start - 1; size > store.MaxItemBytes {
			return nil, 0, &lineError{line: lineNo, msg: fmt.Sprintf(
				"the item is %d bytes as compact JSON, over the limit of %d (1 MiB): split it, or store large content elsewhere and save its address",
				size, store.MaxItemBytes)}
		}
		// The stores check every item they are given with PrepareItems, and
		// one they refused would be retried for ever: refuse it here.
		if _, err := store.PrepareItems(0, []json.RawMessage{out[start : len(out)-1]}, store.Dedup{}); err != nil {
			return nil, 0, &lineError{line: lineNo, msg: "the store would refuse it: " + err.Error()}
		}
		n++
	}
	return out, n, nil
}

// appendItem appends line, which must be one JSON object without a
// reserved top-level key, to out as compact JSON in valid UTF-8.
func appendItem(out, line []byte) ([]byte, error) {
	buf := bytes.NewBuffer(out)
	start := len(out)
	if err := json.Compact(buf, line); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not valid JSON: %v (at byte %d of the line)", se, se.Offset)
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	out = buf.Bytes()
	item := out[start:]
	if item[0] != '{' {
		return nil, fmt.Errorf("an item must be a JSON object ({...}), not %s", jsonKind(item[0]))
	}
	if !utf8.Valid(item) {
		// JSON is UTF-8: replace what is not, as the log does, before the
		// size is checked.
		item = bytes.ToValidUTF8(item, []byte("\uFFFD"))
		out = append(out[:start], item...)
	}
	if key := reservedKey(item); key != "" {
		return nil, fmt.Errorf("the key %q is reserved for the store's own fields (reserved: %v): rename it", key, store.ReservedItemKeys)
	}
	return out, nil
}

// reservedKey returns the first top-level key of the compact object item
// that is one of store.ReservedItemKeys, or "".
func reservedKey(item []byte) string {
	// Every reserved key starts with '_': most items have no key that
	// does, and need no decoding.
	if !bytes.Contains(item, []byte(`"_`)) && !bytes.Contains(item, []byte(`\u005`)) {
		return ""
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(item, &top) != nil {
		return ""
	}
	for _, k := range store.ReservedItemKeys {
		if _, ok := top[k]; ok {
			return k
		}
	}
	return ""
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}
