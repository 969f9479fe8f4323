package storetest

import (
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// testLogBinaryLines: what an agent makes of a spider's binary output is
// valid UTF-8 that may hold any character but '\n': NULs, other control
// characters, U+FFFD for the invalid bytes. Every store keeps such lines
// as they are, so a spider printing binary data cannot stop its log from
// being saved.
func testLogBinaryLines(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := store.NewID()
	var ctl strings.Builder
	for c := rune(0); c < 0x20; c++ {
		if c != '\n' {
			ctl.WriteRune(c)
		}
	}
	ctl.WriteString("\x7f\u0080\u009f\u2028\u2029\ufeff\ufffe\U0010ffff")
	lines := []string{
		"\x00",
		"a\x00b\x00",
		"\x00\x00\x00 NULs first",
		ctl.String(),
		"\ufffd\ufffd binary \ufffd\x00\ufffd",
		strings.Repeat("\x00\ufffd\x01", 64<<10/6), // a 64 KiB line of it, as the agent cuts them
		`{"json": "\u0000"}`,
		"",
	}
	must(t, s.Logs().AppendLog(ctx, id, 0, lines))
	checkLog(t, s, id, lines)
	var scanned []string
	must(t, s.Logs().ScanLog(ctx, id, 0, func(_ int64, l string) bool {
		scanned = append(scanned, l)
		return true
	}))
	equalLines(t, scanned, lines)
}
