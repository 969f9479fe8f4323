package sysinfo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// Probe says how to find one executable and make it print its version.
type Probe struct {
	// Name is looked up on the search path and reported as
	// wire.Executable.Name.
	Name string
	// Args make the executable print its version and exit.
	Args []string
	// Parse extracts the version from the combined stdout and stderr;
	// nil means ParseVersion.
	Parse func(output string) string
}

// DefaultProbes returns the toolchains spiders commonly need. The slice is
// fresh on each call so callers may append to it.
func DefaultProbes() []Probe {
	return []Probe{
		{Name: "python3", Args: []string{"--version"}},
		{Name: "node", Args: []string{"--version"}},
		{Name: "go", Args: []string{"version"}},
		{Name: "java", Args: []string{"-version"}, Parse: parseJavaVersion},
		{Name: "scrapy", Args: []string{"version"}},
	}
}

// versionRE matches the first version-looking token. The leading \b keeps
// it from matching inside words such as "python3.11" in a warning printed
// before the version; the optional go/v prefix keeps "go1.26.8" and
// "v20.20.2" as the tools print them.
var versionRE = regexp.MustCompile(`\b(?:go|v)?\d+(?:\.\d+)+[\w.+-]*`)

// ParseVersion returns the first version-looking token of a tool's output,
// such as "3.11.7" from "Python 3.11.7", "go1.26.8" from "go version go1.26.8
// linux/amd64" or "v20.20.2"; it returns "" if there is none.
func ParseVersion(output string) string {
	return versionRE.FindString(output)
}

var javaVersionRE = regexp.MustCompile(`version "([^"]+)"`)

// parseJavaVersion prefers the quoted version because the JVM may first
// print "Picked up JAVA_TOOL_OPTIONS: ..." lines containing other numbers.
func parseJavaVersion(output string) string {
	if m := javaVersionRE.FindStringSubmatch(output); m != nil {
		return m[1]
	}
	return ParseVersion(output)
}

// maxProbeOutput caps what is kept of a probe's output: a version is on the
// first lines, and a misbehaving tool must not make the agent buffer
// without bound.
const maxProbeOutput = 64 << 10

// probeWaitDelay bounds how long a killed probe may keep its output pipes
// open through descendants that escaped the kill.
const probeWaitDelay = 500 * time.Millisecond

// probeAll runs every probe concurrently and returns results in probe order.
func probeAll(ctx context.Context, opts Options) []wire.Executable {
	probes := opts.probes()
	out := make([]wire.Executable, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { out[i] = probe(ctx, p, opts) })
	}
	wg.Wait()
	return out
}

func probe(ctx context.Context, p Probe, opts Options) wire.Executable {
	exe := wire.Executable{Name: p.Name}
	path, err := lookPath(p.Name, opts.SearchPath)
	if err != nil {
		return exe
	}
	exe.Path, exe.Installed = path, true

	ctx, cancel := context.WithTimeout(ctx, opts.probeTimeout())
	defer cancel()
	out := &cappedBuffer{max: maxProbeOutput}
	cmd := exec.CommandContext(ctx, path, p.Args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Outside any project, "go version" cannot trigger a toolchain download
	// for a go.mod it happens to sit in, and "scrapy version" does not load
	// a project's settings.
	cmd.Dir = os.TempDir()
	if opts.SearchPath != "" {
		// Later entries win in exec.Cmd.Env, so this overrides the inherited
		// PATH for scripts that find their interpreter via /usr/bin/env.
		cmd.Env = append(os.Environ(), "PATH="+opts.SearchPath)
	}
	cmd.WaitDelay = probeWaitDelay
	killProcessGroup(cmd)
	// A non-zero exit is not fatal: some tools exit 1 after printing their
	// version.
	_ = cmd.Run()
	if ctx.Err() != nil {
		// Whatever a cut-off probe printed cannot be trusted to be complete.
		return exe
	}
	parse := p.Parse
	if parse == nil {
		parse = ParseVersion
	}
	exe.Version = strings.TrimSpace(parse(out.String()))
	return exe
}

// lookPath is exec.LookPath over searchPath instead of $PATH when set.
func lookPath(name, searchPath string) (string, error) {
	if searchPath == "" {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(searchPath) {
		// Relative entries would resolve against the agent's working
		// directory, which exec.LookPath refuses for the same reason.
		if !filepath.IsAbs(dir) {
			continue
		}
		if path, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return path, nil
		}
	}
	return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
}

// cappedBuffer keeps the first max bytes written and discards the rest while
// reporting success, so a chatty tool is neither blocked nor sent SIGPIPE.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string { return c.buf.String() }
