package testenv

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment variables that point tests at MongoDB-compatible servers.
const (
	// FerretDBURIEnv is the FerretDB that `make test` starts for the whole
	// run (mongodb://127.0.0.1:PORT/).
	FerretDBURIEnv = "CRAWLHUB_TEST_FERRETDB_URI"
	// FerretDBBinEnv is a built tools/ferretdb binary; when FerretDBURIEnv
	// is unset, each test that asks starts a private FerretDB with it.
	FerretDBBinEnv = "CRAWLHUB_FERRETDB_BIN"
	// MongoURIEnv is a real MongoDB, used in addition when set.
	MongoURIEnv = "CRAWLHUB_TEST_MONGO_URI"
)

// NamedURI is a MongoDB-compatible server to run a test against.
type NamedURI struct {
	Name string // "ferretdb" or "mongodb": use it as the subtest name
	URI  string
}

// MongoURIs returns the servers a test of MongoDB code must pass on:
// FerretDB always (the one `make test` started, or a private one started
// now and stopped at t's cleanup), and a real MongoDB when MongoURIEnv is
// set. Call it once per top-level test and give each subtest its own
// database with UniqueDB.
func MongoURIs(t testing.TB) []NamedURI {
	t.Helper()
	var out []NamedURI
	switch uri, bin := os.Getenv(FerretDBURIEnv), os.Getenv(FerretDBBinEnv); {
	case uri != "":
		out = append(out, NamedURI{"ferretdb", uri})
	case bin != "":
		out = append(out, NamedURI{"ferretdb", ferretStart(t, bin)})
	}
	if uri := os.Getenv(MongoURIEnv); uri != "" {
		out = append(out, NamedURI{"mongodb", uri})
	}
	if len(out) == 0 {
		t.Fatalf("no MongoDB-compatible server to test against: run `make test`, or build the test "+
			"FerretDB (cd tools/ferretdb && go build -o bin/ferretdb .) and set %s to it, or set %s "+
			"to a running FerretDB or %s to a MongoDB", FerretDBBinEnv, FerretDBURIEnv, MongoURIEnv)
	}
	return out
}

// ferretStart runs bin (tools/ferretdb) on a free loopback port with its
// data in a temporary directory, and returns its URI once it listens.
func ferretStart(t testing.TB, bin string) string {
	t.Helper()
	return startFerret(t, bin).URI
}

// Ferret is a private FerretDB test server owned by one test, which the
// test may stop and start again (same port, same data) to play a store
// that goes away.
type Ferret struct {
	URI string // mongodb://127.0.0.1:PORT/

	t      testing.TB
	bin    string
	dir    string
	listen string // 127.0.0.1:0 until the first start has bound a port
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartFerret starts a FerretDB for t from the binary FerretDBBinEnv names
// (t fails when it is unset) and stops it at t's cleanup.
func StartFerret(t testing.TB) *Ferret {
	t.Helper()
	bin := os.Getenv(FerretDBBinEnv)
	if bin == "" {
		t.Fatalf("%s is not set: run `make test`, or build tools/ferretdb and point it there", FerretDBBinEnv)
	}
	return startFerret(t, bin)
}

func startFerret(t testing.TB, bin string) *Ferret {
	t.Helper()
	f := &Ferret{t: t, bin: bin, dir: t.TempDir(), listen: "127.0.0.1:0"}
	t.Cleanup(f.Stop) // registered after TempDir's: runs before the directory goes
	f.Start()
	return f
}

// Start starts the server (again, on the same port and data) and waits
// until it accepts connections.
func (f *Ferret) Start() {
	f.t.Helper()
	if f.cmd != nil {
		f.t.Fatalf("ferretdb %s already running", f.URI)
	}
	logPath := filepath.Join(f.dir, "ferretdb.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatalf("start ferretdb: %v", err)
	}
	defer logFile.Close() // the child has its own copy

	// Port 0 at first: the server picks a free port and says which in its
	// ready line, so no port can be taken between choosing and binding it.
	cmd := exec.Command(f.bin, "--listen", f.listen, "--dir", filepath.Join(f.dir, "data"))
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatalf("start ferretdb: %v", err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatalf("start ferretdb %s (%s): %v", f.bin, FerretDBBinEnv, err)
	}
	exited := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		// The only line the server prints to stdout; read it, then let Wait
		// close the pipe.
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		cmd.Wait()
		close(exited)
	}()
	f.cmd, f.exited = cmd, exited
	fail := func(format string, args ...any) {
		f.t.Helper()
		f.Stop()
		log, _ := os.ReadFile(logPath)
		f.t.Fatalf("start ferretdb: "+format+"\nits log:\n%s", append(args, log)...)
	}

	var line string
	select {
	case line = <-ready:
	case <-time.After(30 * time.Second):
		fail("no ready line after 30s")
	}
	uri, ok := strings.CutPrefix(strings.TrimSpace(line), "ferretdb ready ")
	if !ok {
		fail("first line %q is not its ready line", line)
	}
	u, err := url.Parse(uri)
	if err != nil {
		fail("bad URI %q: %v", uri, err)
	}
	// The ready line is printed once the socket is bound; one dial proves
	// it accepts.
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		fail("dial %s: %v", u.Host, err)
	}
	c.Close()
	f.URI, f.listen = uri, u.Host
}

// Stop stops the server (SIGTERM, then SIGKILL after 10 s) and waits for
// it; clients see their connections refused until Start.
func (f *Ferret) Stop() {
	if f.cmd == nil {
		return
	}
	f.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot act on SIGTERM
	f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(10 * time.Second):
		f.cmd.Process.Kill()
		<-f.exited
	}
	f.cmd = nil
}

var mongoDBNameUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// UniqueDB returns a database name no other test uses: the test's name,
// made safe, plus random bits. MongoDB caps names at 64 bytes and FerretDB
// v1 at 63 of [a-zA-Z0-9_-]; this stays within both.
func UniqueDB(t testing.TB) string {
	name := strings.Trim(mongoDBNameUnsafe.ReplaceAllString(t.Name(), "_"), "_")
	if len(name) > 40 {
		name = name[len(name)-40:] // the end tells subtests apart
	}
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("t_%s_%s", name, hex.EncodeToString(b))
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, as with a store host that hangs or a network that drops
// packets. Resume undoes it; Stop resumes first, so a paused server still
// stops at cleanup.
func (f *Ferret) Pause() {
	f.t.Helper()
	if f.cmd == nil {
		return
	}
	pid := f.cmd.Process.Pid
	f.cmd.Process.Signal(syscall.SIGSTOP)
	// The signal is delivered asynchronously: a thread running on another
	// core may still answer a request. Paused means every thread of the
	// process is in state T (stopped), as /proc says.
	deadline := time.Now().Add(10 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			f.t.Fatalf("ferretdb %s: not stopped 10 s after SIGSTOP", f.URI)
		}
		time.Sleep(time.Millisecond) // the kernel has no event for a stop to wait on
	}
}

// allStopped reports whether every thread of process pid is stopped.
func allStopped(pid int) bool {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false
	}
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			return false
		}
		// "pid (comm) S ...": the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
			return false
		}
	}
	return true
}

// Resume lets a paused server answer again (SIGCONT).
func (f *Ferret) Resume() {
	if f.cmd != nil {
		f.cmd.Process.Signal(syscall.SIGCONT)
	}
}
