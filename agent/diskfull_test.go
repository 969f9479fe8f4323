package agent_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// fileSizeLimitEnv is set in the child process of underFileSizeLimit.
const fileSizeLimitEnv = "CRAWLHUB_TEST_FILE_SIZE_LIMIT"

// underFileSizeLimit runs the calling test again in a child process whose
// files cannot grow past limit bytes (RLIMIT_FSIZE), the way a full disk
// refuses a write, without root or a small file system. It reports true in
// the child, which goes on with the test, and false in the test itself,
// once the child passed. The whole process is limited, so the test keeps
// the store's own files small (memStore).
func underFileSizeLimit(t *testing.T, limit uint64) bool {
	t.Helper()
	if os.Getenv(fileSizeLimitEnv) != "" {
		// Past the limit the kernel sends SIGXFSZ, which would kill the
		// process; ignored, the write fails with EFBIG instead.
		signal.Ignore(syscall.SIGXFSZ)
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		lim.Cur = min(lim.Max, limit)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), fileSizeLimitEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the test under a file size limit of %d bytes: %v\n%s", limit, err, out)
	}
	t.Logf("under a file size limit of %d bytes:\n%s", limit, out)
	return false
}

// spiderWith stores a spider whose archive is in files.
func (n *node) spiderWith(files store.Files, name, command string, archive []byte) store.Spider {
	n.t.Helper()
	now := store.Now()
	sp := store.Spider{ID: store.NewID(), Name: name, Command: command, Created: now, Updated: now}
	sp.File = "spiders/" + sp.ID + ".zip"
	var err error
	if sp.MD5, sp.Size, err = files.Put(n.ctx, sp.File, bytes.NewReader(archive)); err != nil {
		n.t.Fatal(err)
	}
	if err := n.st.Spiders().Create(n.ctx, &sp); err != nil {
		n.t.Fatal(err)
	}
	return sp
}

// diskLimit is the file size the disk-full tests allow: above what the
// agent writes besides the log or the spider (its SQLite store's WAL
// reaches 4 MiB before a checkpoint), well below what the spiders write.
const diskLimit = 8 << 20

// TestAgentDiskFullLog: when the node cannot write a task's log (its disk
// is full), the agent stops the task and records it as an error whose
// reason says the log was not written and why; the log keeps every line
// written before, whole and without a gap, and nothing ever reports the
// task finished.
func TestAgentDiskFullLog(t *testing.T) {
	if !underFileSizeLimit(t, diskLimit) {
		return
	}
	ms := newMemStore()
	diskFullLog(t, startNode(t, config{wrap: ms.wrap}), ms, "log not written: file too large", "ulimit -f")
}

// TestAgentDiskFullLogTmpfs is TestAgentDiskFullLog on a really full disk,
// a small tmpfs, where the system says ENOSPC. Mounting needs root, so it
// is skipped without.
func TestAgentDiskFullLogTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root; TestAgentDiskFullLog covers the same without")
	}
	data := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", data).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", data, err, out)
		}
	})
	ms := newMemStore()
	diskFullLog(t, startNode(t, config{wrap: ms.wrap, dataDir: data}), ms,
		"log not written: no space left on device", "the node's disk is full: free space under "+data)
}

// diskFullLog runs a spider that prints for ever on n, whose disk fills.
func diskFullLog(t *testing.T, n *node, ms *memStore, wantReason ...string) {
	// It never ends by itself: only the agent can stop it.
	const script = `BEGIN { for (i = 0; ; i++) print "line " i " of a spider that fills the disk" }`
	sp := n.spiderWith(ms.files, "chatty", "awk -f run.awk", zipFiles(t, zip.Deflate, map[string][]byte{"run.awk": []byte(script)}))
	task := n.run(sp)

	ts := n.taskEnded(task.ID, store.TaskError)
	for _, want := range append(wantReason, "the task was stopped") {
		if !strings.Contains(ts.Reason, want) {
			t.Errorf("reason %q does not say %q", ts.Reason, want)
		}
	}
	if got := n.statusesOf(task.ID); strings.Contains(got, `"status":"`+store.TaskFinished+`"`) {
		t.Errorf("task statuses %s: a task whose log was cut reported finished", got)
	}
	stored, err := n.st.Tasks().Get(n.ctx, task.ID)
	if err != nil || stored.Status != store.TaskError || stored.Reason != ts.Reason {
		t.Fatalf("stored task: %+v, %v; want the event's error and reason", stored, err)
	}
	lines := ms.logs.all(task.ID)
	if int64(len(lines)) != ts.LogLines || len(lines) < 1000 {
		t.Fatalf("the store has %d lines, the task says %d", len(lines), ts.LogLines)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("line %d of a spider that fills the disk", i); l != want {
			t.Fatalf("stored line %d is %q, want %q: lines lost or torn", i, l, want)
		}
	}
	if !strings.Contains(n.logs.String(), "task log not written; stopping the task") {
		t.Errorf("the agent's log does not say why it stopped the task:\n%s", n.logs)
	}
	t.Logf("%d lines kept; reason: %s", len(lines), ts.Reason)
}

// TestAgentDiskFullItems: when the node cannot write a task's items, the
// spider's request to save them fails, and even if the spider carries on
// and exits 0 the task ends in error saying the items were not written.
func TestAgentDiskFullItems(t *testing.T) {
	if !underFileSizeLimit(t, diskLimit) {
		return
	}
	ms := newMemStore()
	n := startNode(t, config{wrap: ms.wrap})
	// 8 batches of 2 MiB: the fifth cannot be written.
	const script = `import json, os, urllib.error, urllib.request
item = json.dumps({"url": "https://example.com/", "body": "x" * 1000}) + "\n"
batch = (item * 2000).encode()
for i in range(8):
    req = urllib.request.Request(os.environ["CRAWLHUB_ITEMS_URL"], data=batch, method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            print("batch", i, r.status)
    except urllib.error.HTTPError as e:
        print("batch", i, e.code, e.read().decode())
`
	sp := n.spiderWith(ms.files, "saver", "/usr/bin/python3 run.py", zipFiles(t, zip.Deflate, map[string][]byte{"run.py": []byte(script)}))
	task := n.run(sp)
	ts := n.taskEnded(task.ID, store.TaskError)
	for _, want := range []string{"items not written: file too large", "ulimit -f"} {
		if !strings.Contains(ts.Reason, want) {
			t.Errorf("reason %q does not say %q", ts.Reason, want)
		}
	}
	log := strings.Join(ms.logs.all(task.ID), "\n")
	if !strings.Contains(log, "batch 0 200") || !strings.Contains(log, "batch 7 500") {
		t.Errorf("the spider's requests did not succeed and then fail:\n%s", log)
	}
	t.Logf("reason: %s", ts.Reason)
}

// TestAgentDiskFullSync: a spider that does not fit on the node's disk,
// whether its archive (the download) or a file in it (the extraction), is
// not run: the task ends in error with the reason, and the node keeps no
// part of the spider, neither a half-written directory nor a temporary file.
func TestAgentDiskFullSync(t *testing.T) {
	if !underFileSizeLimit(t, diskLimit) {
		return
	}
	ms := newMemStore()
	data := t.TempDir()
	n := startNode(t, config{wrap: ms.wrap, dataDir: data})
	rng := rand.New(rand.NewChaCha8([32]byte{14}))
	// Random bytes do not compress: the archive itself is over the limit.
	noise := make([]byte, diskLimit+1<<20)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	// Four letters compress about 4:1: a small archive, a file over the limit.
	letters := make([]byte, diskLimit+1<<20)
	for i := range letters {
		letters[i] = "acgt"[rng.IntN(4)]
	}
	for _, tc := range []struct {
		name, what string
		archive    []byte
	}{
		{"huge-archive", "download spider huge-archive", zipFiles(t, zip.Store, map[string][]byte{"run.sh": []byte("echo ran\n"), "noise.bin": noise})},
		{"huge-file", "extract spider huge-file", zipFiles(t, zip.Deflate, map[string][]byte{"run.sh": []byte("echo ran\n"), "genome.txt": letters})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := n.spiderWith(ms.files, tc.name, "sh run.sh", tc.archive)
			task := n.run(sp)
			ts := n.taskEnded(task.ID, store.TaskError)
			for _, want := range []string{"could not fetch the spider", tc.what, "file too large", "ulimit -f"} {
				if !strings.Contains(ts.Reason, want) {
					t.Errorf("reason %q does not say %q", ts.Reason, want)
				}
			}
			if ts.LogLines != 0 {
				t.Errorf("a spider that was not fetched ran: %d log lines", ts.LogLines)
			}
			left, err := os.ReadDir(filepath.Join(data, "spiders"))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range left {
				t.Errorf("left under spiders/: %s", e.Name())
			}
			t.Logf("reason: %s", ts.Reason)
		})
	}
}

// slowWait bounds the wait for the end of a task that writes megabytes or
// gigabytes: seconds on an idle machine, many more under -race on a busy one.
const slowWait = 2 * time.Minute

// taskEnded waits up to slowWait for the task to reach status.
func (n *node) taskEnded(taskID, status string) wire.TaskStatus {
	n.t.Helper()
	var ts wire.TaskStatus
	n.waitWithin(slowWait, func(env *wire.Envelope) bool {
		return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == taskID && ts.Status == status
	})
	return ts
}

// statusesOf lists every task_status the agent published for the task.
func (n *node) statusesOf(taskID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, env := range n.seen {
		if env.Type == wire.EvTaskStatus && bytes.Contains(env.Payload, []byte(taskID)) {
			out = append(out, string(env.Payload))
		}
	}
	return strings.Join(out, "\n")
}

// zipFiles is an archive of files, compressed with method.
func zipFiles(t *testing.T, method uint16, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	for name, body := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
