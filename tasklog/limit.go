package tasklog

import (
	"bytes"
	"fmt"
)

// outputLimit keeps a Writer within Config.MaxBytes: the first MaxBytes
// bytes of output become lines as usual, the rest is only counted, and the
// log says so in two notes of its own (limitNote when the limit is reached,
// cutNote at Close). Counting costs no memory, so a spider printing for
// ever costs the node neither disk nor store past the limit. Used by
// Write's goroutine, then Close.
type outputLimit struct {
	max   int64 // 0: no limit
	taken int64 // bytes of output passed on to the splitter

	cutBytes int64 // output after the limit
	cutLines int64 // '\n's in it
	cutLast  byte  // its last byte
}

// take returns the prefix of p that is kept and counts the rest; reached
// is true for the one call in which the limit is reached.
func (l *outputLimit) take(p []byte) (keep []byte, reached bool) {
	if l.max == 0 {
		return p, false
	}
	room := l.max - l.taken
	if room >= int64(len(p)) {
		l.taken += int64(len(p))
		return p, false
	}
	room = max(room, 0)
	keep, rest := p[:room], p[room:] // rest is not empty
	l.taken += room
	reached = l.cutBytes == 0
	l.cutBytes += int64(len(rest))
	l.cutLines += int64(bytes.Count(rest, []byte{'\n'}))
	l.cutLast = rest[len(rest)-1]
	return keep, reached
}

// limitNote is the line written where the limit cut the output.
func (l *outputLimit) limitNote() []byte {
	return fmt.Appendf(nil, "[crawlhub] the log reached its limit of %s: the rest of the output is counted, not kept\n",
		formatBytes(l.max))
}

// cutNote is the last line of a log that was cut, saying how much; nil if
// nothing was.
func (l *outputLimit) cutNote() []byte {
	if l.cutBytes == 0 {
		return nil
	}
	lines := l.cutLines
	if l.cutLast != '\n' {
		lines++ // a last line without '\n' counts, as in the log
	}
	what := "lines"
	if lines == 1 {
		what = "line"
	}
	return fmt.Appendf(nil, "[crawlhub] %d more %s (%s) of output were not kept: the log's limit is %s\n",
		lines, what, formatBytes(l.cutBytes), formatBytes(l.max))
}

// formatBytes says n in the largest binary unit that keeps it at least 1.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	s := fmt.Sprintf("%.1f", v)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + " " + [...]string{"KiB", "MiB", "GiB", "TiB", "PiB"}[i]
}
