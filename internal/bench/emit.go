package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// Line markers. A log line the emitter writes is exactly LineBytes bytes
// (then '\n'):
//
//	~L<10-digit line number>T<19-digit unix nanoseconds> xxxx…
//
// so a receiver finds every line in a frame by scanning for "~L", checks
// its number (exactly once, in order) and takes the latency, without
// decoding JSON. Fan-out messages carry "~M<2-digit publisher><10-digit
// sequence>T<19-digit unix ns>" the same way.
const (
	LineBytes  = 100
	lineMarker = "~L"
	msgMarker  = "~M"
	markerLen  = 2 + 10 + 1 + 19 // a line marker; a message marker has 2 more digits
)

// Emit writes n lines of LineBytes bytes to w as fast as it can (or, when
// rate > 0, at rate lines per second), after waitFile exists (when set), so
// that the clients can subscribe first.
func Emit(w io.Writer, n int64, waitFile string, rate float64) error {
	if waitFile != "" {
		if err := waitFor(waitFile); err != nil {
			return fmt.Errorf("emit: %w", err)
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	line := make([]byte, LineBytes+1)
	for i := range line {
		line[i] = 'x'
	}
	copy(line, lineMarker)
	line[2+10] = 'T'
	line[markerLen] = ' '
	line[LineBytes] = '\n'
	start := time.Now()
	for i := int64(0); i < n; i++ {
		if rate > 0 && i%256 == 0 {
			// Paced: flush what is due and sleep until the next lines are.
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if err := bw.Flush(); err != nil {
					return err
				}
				time.Sleep(d)
			}
		}
		putDigits(line[2:12], uint64(i))
		putDigits(line[13:32], uint64(time.Now().UnixNano()))
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// putDigits writes v into b as len(b) decimal digits, zero-padded.
func putDigits(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// parseDigits reads len(b) decimal digits; ok is false if one is not.
func parseDigits(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// EmitMain is the "emit" command: emit -n LINES [-wait FILE] [-rate
// LINES_PER_S].
func EmitMain(args []string) error {
	var n int64 = 1000
	var rate float64
	wait := ""
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-n":
			i++
			if i < len(args) {
				v, err := strconv.ParseInt(args[i], 10, 64)
				if err != nil {
					return fmt.Errorf("emit -n: %w", err)
				}
				n = v
			}
		case "-rate":
			i++
			if i < len(args) {
				v, err := strconv.ParseFloat(args[i], 64)
				if err != nil {
					return fmt.Errorf("emit -rate: %w", err)
				}
				rate = v
			}
		case "-wait":
			i++
			if i < len(args) {
				wait = args[i]
			}
		default:
			return fmt.Errorf("emit: unknown argument %q", args[i])
		}
	}
	return Emit(os.Stdout, n, wait, rate)
}
