package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/crawlhub/crawlhub/sdk"
	"github.com/crawlhub/crawlhub/store"
)

// passEnv are the variables of the agent's own environment a task gets:
// what programs need to run (the search path, the user, the locale, the
// time zone, a temporary directory, a terminal type), the proxies a
// network may require and the certificates they may need, and what
// Windows needs to start a process. Nothing else: the agent's environment
// holds its secrets (CRAWLHUB_CLUSTER_SECRET, the Redis and MongoDB URIs
// with their passwords, CRAWLHUB_TOKEN), and a spider is code from
// whoever uploaded it. A spider that needs more says so in its env.
var passEnv = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true,
	"LANG": true, "LANGUAGE": true, "TZ": true, "TMPDIR": true, "TERM": true,
	"HTTP_PROXY": true, "HTTPS_PROXY": true, "NO_PROXY": true, "ALL_PROXY": true,
	"http_proxy": true, "https_proxy": true, "no_proxy": true, "all_proxy": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	// Windows (whose names are not case-sensitive: see passes).
	"SYSTEMROOT": true, "WINDIR": true, "COMSPEC": true, "PATHEXT": true, "SYSTEMDRIVE": true,
	"TEMP": true, "TMP": true, "USERPROFILE": true, "APPDATA": true, "LOCALAPPDATA": true,
	"PROGRAMDATA": true, "PROGRAMFILES": true, "USERNAME": true,
}

// passes reports whether the agent's variable key goes to its tasks:
// those of passEnv, and the locale's LC_*.
func passes(key string) bool {
	if runtime.GOOS == "windows" {
		key = strings.ToUpper(key)
	}
	return passEnv[key] || strings.HasPrefix(key, "LC_")
}

// taskEnv is a task's environment: the allowed part of the agent's own
// (passEnv), the spider's and the task's variables (the task's win),
// crawlhub's, and the SDK first on PYTHONPATH and NODE_PATH, so that a
// spider saves items with nothing installed: "import crawlhub" in Python,
// require("crawlhub") in Node. It refuses a spider's or a task's env that
// store.CheckEnv refuses (one stored before the rule, or written to the
// store by other means).
func (a *Agent) taskEnv(sp *store.Spider, t *store.Task, itemsURL string) ([]string, error) {
	if err := store.CheckEnv(sp.Env); err != nil {
		return nil, fmt.Errorf("the spider's env: %w", err)
	}
	if err := store.CheckEnv(t.Env); err != nil {
		return nil, fmt.Errorf("the task's env: %w", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, ok := strings.Cut(kv, "="); ok && passes(k) {
			env = append(env, kv)
		}
	}
	add := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			env = append(env, k+"="+m[k])
		}
	}
	add(sp.Env)
	add(t.Env)
	env = append(env,
		"CRAWLHUB_TASK_ID="+t.ID, "CRAWLHUB_NODE_ID="+a.nodeID,
		"CRAWLHUB_SPIDER_ID="+sp.ID, "CRAWLHUB_SPIDER_NAME="+sp.Name, "CRAWLHUB_PARAMS="+t.Params,
		"CRAWLHUB_ITEMS_URL="+itemsURL)
	env = prependPath(env, "PYTHONPATH", filepath.Join(a.sdkDir, "python"))
	return prependPath(env, "NODE_PATH", filepath.Join(a.sdkDir, "node")), nil
}

// prependPath puts dir first in the list variable key of env, keeping
// what env already sets after it. A command sees the last of duplicate
// variables, so the result is appended.
func prependPath(env []string, key, dir string) []string {
	val := dir
	for i := len(env) - 1; i >= 0; i-- {
		if old, ok := strings.CutPrefix(env[i], key+"="); ok {
			if old != "" {
				val += string(os.PathListSeparator) + old
			}
			break
		}
	}
	return append(env, key+"="+val)
}

// sdkPrefix names the SDK's directories in the data directory: sdk-<hash
// of its files> for a complete copy, .sdk-* while one is written.
const sdkPrefix = "sdk-"

// extractSDK copies the SDK embedded in the binary (sdk.FS) into dataDir
// and returns its directory. Each version has a directory of its own,
// named by a hash of its files and made complete under a temporary name
// first, so a task never sees half an SDK, and a new binary never runs
// tasks with the old one. Older copies are removed.
func extractSDK(dataDir string) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(sdk.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sdk.FS, p)
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("agent: reading the embedded SDK: %w", err)
	}
	name := sdkPrefix + hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(dataDir, name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := writeSDK(dataDir, dir); err != nil {
			return "", fmt.Errorf("agent: extracting the SDK into %s: %w", dataDir, err)
		}
	}
	entries, _ := os.ReadDir(dataDir)
	for _, e := range entries {
		n := e.Name()
		if n != name && (strings.HasPrefix(n, sdkPrefix) || strings.HasPrefix(n, "."+sdkPrefix)) {
			os.RemoveAll(filepath.Join(dataDir, n))
		}
	}
	return dir, nil
}

// sdkPath is where the file p of sdk.FS goes in the SDK's directory.
// sdk/node is the crawlhub module itself, and NODE_PATH lists directories
// that hold modules, so it goes to node/crawlhub; python/ holds the
// crawlhub package already.
func sdkPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "node"); ok && (rest == "" || rest[0] == '/') {
		return "node/crawlhub" + rest
	}
	return p
}

// writeSDK writes sdk.FS into a temporary directory, then renames it dir.
func writeSDK(dataDir, dir string) error {
	tmp, err := os.MkdirTemp(dataDir, "."+sdkPrefix)
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, dirMode); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	err = fs.WalkDir(sdk.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, filepath.FromSlash(sdkPath(p)))
		if d.IsDir() {
			return os.MkdirAll(target, dirMode)
		}
		b, err := fs.ReadFile(sdk.FS, p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, fileMode)
	})
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(dir); serr == nil {
			return nil // another agent on this data directory was first
		}
	}
	return err
}
