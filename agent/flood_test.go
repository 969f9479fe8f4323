package agent_test

import (
	"archive/zip"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/store"
)

// maxLine is the longest log line (tasklog's default MaxLine): a longer
// one goes on over the next lines.
const maxLine = 64 << 10

// TestAgentFloodLongLine: a 10 MB line without a newline is kept whole,
// over lines of at most 64 KiB, so a spider printing a page in one line
// costs the agent no more memory than a line's worth.
func TestAgentFloodLongLine(t *testing.T) {
	n := startNode(t, config{})
	sp := n.spider("long-line", "head -c 10485760 /dev/zero | tr '\\0' x; echo; echo after\n")
	task := n.run(sp)
	ts := n.taskEnded(task.ID, store.TaskFinished)
	lines := n.storedLog(task.ID)
	want := 10485760/maxLine + 1
	if len(lines) != want || ts.LogLines != int64(want) {
		t.Fatalf("%d lines stored, %d reported; want %d (160 pieces of 64 KiB and one more)", len(lines), ts.LogLines, want)
	}
	piece := strings.Repeat("x", maxLine)
	for i, l := range lines[:len(lines)-1] {
		if l != piece {
			t.Fatalf("line %d is %d bytes, want 64 KiB of x", i, len(l))
		}
	}
	if lines[len(lines)-1] != "after" {
		t.Fatalf("last line %.80q, want \"after\"", lines[len(lines)-1])
	}
}

// TestAgentFloodBinary: a binary stream (random bytes, NULs, no newline)
// becomes valid text: each run of invalid bytes one U+FFFD, NULs kept,
// cut into lines of at most 64 KiB that together are the whole stream.
func TestAgentFloodBinary(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{14}))
	bin := make([]byte, 1<<20)
	for i := range bin {
		if bin[i] = byte(rng.Uint32()); bin[i] == '\n' {
			bin[i] = 0
		}
	}
	n := startNode(t, config{})
	sp := n.spiderFiles("binary", "cat data.bin", map[string][]byte{"data.bin": bin})
	task := n.run(sp)
	n.taskEnded(task.ID, store.TaskFinished)
	lines := n.storedLog(task.ID)
	for i, l := range lines {
		if !utf8.ValidString(l) || len(l) > maxLine || i < len(lines)-1 && len(l) < maxLine-utf8.UTFMax {
			t.Fatalf("line %d of %d: %d bytes, valid UTF-8: %v; want valid lines of 64 KiB but for the last", i, len(lines), len(l), utf8.ValidString(l))
		}
	}
	if got, want := strings.Join(lines, ""), strings.ToValidUTF8(string(bin), "\uFFFD"); got != want {
		t.Fatalf("the lines (%d bytes) are not the stream made valid (%d bytes)", len(got), len(want))
	}
	if !strings.Contains(lines[0], "\x00") || !strings.Contains(lines[0], "\uFFFD") {
		t.Fatalf("line 0 has no NUL or no U+FFFD: %.80q", lines[0])
	}
}

// floodMemory is the most the agent's resident memory may grow while one
// task floods it, whatever the output's size: a task's log holds a few MiB
// (its live queue of 32 batches of 32 KiB, a Write's 256 KiB chunk and a
// line, a 1 MiB chunk saved to the store); the rest is the garbage
// collector's slack and, under -race, the detector's shadow memory.
const floodMemory = 64 << 20

// TestAgentFlood100MB: 100 MB of output through a log limited to 4 MiB
// keeps the first 4 MiB and says how much was cut, and the agent's memory
// stays within floodMemory.
func TestAgentFlood100MB(t *testing.T) { flood(t, 100<<20) }

// TestAgentFlood1GB is TestAgentFlood100MB with 1 GiB of output. Past the
// limit output is only counted, so it takes seconds (about 1 s, 4 s under
// -race, on two busy cores); -short skips it.
func TestAgentFlood1GB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB of output; TestAgentFlood100MB is the same with less")
	}
	flood(t, 1<<30)
}

func flood(t *testing.T, size int64) {
	const limit = 4 << 20
	n := startNode(t, config{maxLogBytes: limit})
	const line = "2026-12-04 02:30:00 [scrapy.core.engine] DEBUG: Crawled (200) <GET https://example.com/p/1>"
	sp := n.spider("flood", fmt.Sprintf("yes '%s' | head -c %d\n", line, size))

	runtime.GC()
	debug.FreeOSMemory()
	base := resetPeakRSS(t)
	start := time.Now()
	task := n.run(sp)
	ts := n.taskEnded(task.ID, store.TaskFinished)
	took := time.Since(start)
	peak := procStatus(t, "VmHWM")

	// The output is line after line of len(line)+1 bytes; the limit cuts
	// one of them.
	lines := n.storedLog(task.ID)
	newlines := func(bytes int64) int64 { return bytes / int64(len(line)+1) } // in the first bytes
	whole := int(newlines(limit))
	cutLines := newlines(size) - newlines(limit) + 1 // the last one has no newline: size is no multiple of len(line)+1
	if int64(len(lines)) != ts.LogLines || len(lines) != whole+3 {
		t.Fatalf("%d lines stored, %d reported; want %d whole, the cut one and two notes", len(lines), ts.LogLines, whole)
	}
	for i, l := range lines[:whole] {
		if l != line {
			t.Fatalf("line %d is %.80q", i, l)
		}
	}
	if !strings.HasPrefix(line, lines[whole]) {
		t.Fatalf("the line the limit cut is %.80q", lines[whole])
	}
	notes := []string{
		"[crawlhub] the log reached its limit of 4 MiB: the rest of the output is counted, not kept",
		fmt.Sprintf("[crawlhub] %d more lines (%d MiB) of output were not kept: the log's limit is 4 MiB", cutLines, (size-limit)>>20),
	}
	if got := lines[whole+1:]; got[0] != notes[0] || got[1] != notes[1] {
		t.Fatalf("the log ends\n%q\nwant\n%q", got, notes)
	}
	grew := peak - base
	t.Logf("%d MiB of output in %v (%.0f MiB/s); resident memory %d MiB at the start, peak %d MiB (+%d MiB; bound +%d MiB)",
		size>>20, took.Round(time.Millisecond), float64(size>>20)/took.Seconds(), base>>20, peak>>20, grew>>20, floodMemory>>20)
	if grew > floodMemory {
		t.Fatalf("the agent's resident memory grew by %d MiB while a task printed %d MiB, more than %d MiB", grew>>20, size>>20, floodMemory>>20)
	}
}

// resetPeakRSS resets the process's peak resident memory (VmHWM) to its
// current size (Linux ≥ 4.0) and returns that size.
func resetPeakRSS(t *testing.T) int64 {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak resident memory (needs Linux's /proc): %v", err)
	}
	return procStatus(t, "VmRSS")
}

// procStatus returns a size field of /proc/self/status, in bytes.
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", field, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// storedLog returns every line of the task's log in the store.
func (n *node) storedLog(taskID string) []string {
	n.t.Helper()
	var lines []string
	if err := n.st.Logs().ScanLog(n.ctx, taskID, 0, func(_ int64, l string) bool {
		lines = append(lines, l)
		return true
	}); err != nil {
		n.t.Fatal(err)
	}
	return lines
}

// spiderFiles stores a spider made of files.
func (n *node) spiderFiles(name, command string, files map[string][]byte) store.Spider {
	n.t.Helper()
	return n.spiderWith(n.st.Files(), name, command, zipFiles(n.t, zip.Deflate, files))
}
