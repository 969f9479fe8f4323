package loglevel

import (
	"bytes"
	"sync"
	"sync/atomic"

	"github.com/crawlhub/crawlhub/store"
)

var (
	tracebackStart = []byte("Traceback (most recent call last):")
	chainSentences = [][]byte{
		[]byte("During handling of the above exception, another exception occurred:"),
		[]byte("The above exception was the direct cause of the following exception:"),
	}
	statsMarker = []byte("Dumping Scrapy stats:")
)

// Limits of a stats dump: more is not Scrapy's, and is dropped.
const (
	maxStatsLines = 2000
	maxStatsBytes = 512 << 10
)

// Counter reads a log line by line, in order, and counts its error and
// warning lines. Line is called by one goroutine (the log's writer);
// Levels and ScrapyStats may be called from any goroutine at any time.
type Counter struct {
	errors, warnings atomic.Int64

	// State of the one goroutine that calls Line.
	afterError  bool // a traceback here continues the error counted last
	inTraceback bool // within a traceback's indented frames
	stats       []byte
	statsLines  int
	inStats     bool

	mu          sync.Mutex
	scrapyStats map[string]any
}

// Line counts line (without its '\n') and returns what it counted it as.
func (c *Counter) Line(line []byte) Level {
	if c.inStats {
		c.statsLine(line)
		return None
	}
	if bytes.HasPrefix(line, tracebackStart) {
		c.inTraceback = true
		if c.afterError {
			return None
		}
		c.afterError = true
		c.errors.Add(1)
		return Error
	}
	if c.inTraceback {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return None // a frame
		}
		// The exception's own line ends the traceback; a chained one may
		// follow, still part of it.
		c.inTraceback = false
		return None
	}
	if len(bytes.TrimSpace(line)) == 0 || c.afterError && isChainSentence(line) {
		return None
	}
	l, _ := wordLevel(line)
	c.afterError = l == Error
	switch l {
	case Error:
		c.errors.Add(1)
	case Warning:
		c.warnings.Add(1)
	default:
		if bytes.Contains(line, statsMarker) {
			c.inStats, c.stats, c.statsLines = true, c.stats[:0], 0
		}
	}
	return l
}

func isChainSentence(line []byte) bool {
	for _, s := range chainSentences {
		if bytes.Equal(bytes.TrimSpace(line), s) {
			return true
		}
	}
	return false
}

// statsLine gathers the dict literal after the marker until its braces
// balance, then parses it.
func (c *Counter) statsLine(line []byte) {
	c.statsLines++
	if c.statsLines == 1 && !bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
		c.inStats = false // not a dump after all
		c.stats = c.stats[:0]
		c.Line(line)
		return
	}
	c.stats = append(c.stats, line...)
	c.stats = append(c.stats, '\n')
	if c.statsLines > maxStatsLines || len(c.stats) > maxStatsBytes {
		c.inStats, c.stats = false, nil
		return
	}
	if !balanced(c.stats) {
		return
	}
	c.inStats = false
	if m, err := ParseStats(c.stats); err == nil {
		c.mu.Lock()
		c.scrapyStats = m
		c.mu.Unlock()
	}
	c.stats = nil
}

// balanced reports whether b's braces, brackets and parentheses outside
// strings are all closed.
func balanced(b []byte) bool {
	depth := 0
	var quote byte
	for i := 0; i < len(b); i++ {
		ch := b[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
		case ch == '\'' || ch == '"':
			quote = ch
		case ch == '{' || ch == '[' || ch == '(':
			depth++
		case ch == '}' || ch == ']' || ch == ')':
			depth--
		}
	}
	return depth <= 0
}

// Levels returns the counts so far.
func (c *Counter) Levels() store.LogLevels {
	return store.LogLevels{Error: c.errors.Load(), Warning: c.warnings.Load()}
}

// ScrapyStats returns the last stats dump seen, or nil.
func (c *Counter) ScrapyStats() map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scrapyStats
}
