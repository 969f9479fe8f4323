package tasklog

import (
	"bytes"
	"unicode/utf8"
)

// splitter turns the task's output stream into numbered lines. For every
// line of the stream (the bytes up to a '\n', or the bytes after the last
// '\n' when the stream ends) it drops one trailing '\r', sanitises the rest
// exactly as strings.ToValidUTF8(line, "\uFFFD") does (one U+FFFD per run of
// invalid bytes), and cuts a result longer than max bytes into pieces of at
// most max bytes at rune boundaries, each the longest that fits.
//
// The result does not depend on how the stream was cut into Writes: a line,
// a rune or a run of invalid bytes may arrive across many of them. That is
// why it works as a small state machine instead of on whole lines: a crawler
// printing a progress bar without '\n' for an hour must not grow memory, so
// an over-long line is emitted piece by piece as it arrives.
//
// A splitter is used by one goroutine.
type splitter struct {
	max int // at least utf8.UTFMax, so a piece always holds a rune

	// cur is the sanitised part of the current line not emitted yet.
	cur []byte
	// tail holds the raw bytes of a rune cut by the end of a Write (at most
	// 3: a longer prefix is either a whole rune or invalid).
	tail  [utf8.UTFMax]byte
	ntail int
	// inRun: cur ends with the U+FFFD of an invalid run that the next bytes
	// may continue, and a continued run gets no second U+FFFD.
	inRun bool
	// inLine: some bytes of the current line have arrived, so the end of the
	// stream ends a line (a final line without '\n' still counts).
	inLine bool

	// out holds the emitted lines, each followed by '\n' (the log file's
	// format); ends[i] is the offset in out just past line i's '\n'. The
	// Writer drains both after each chunk.
	out  []byte
	ends []int
}

// write feeds p to the splitter.
func (s *splitter) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.feed(p)
			return
		}
		seg := p[:i]
		p = p[i+1:]
		if !s.inLine {
			// Fast path, nearly every line: the whole line is in p, valid and
			// short, so it needs no state and no copy into cur.
			l := trimCR(seg)
			if len(l) <= s.max && utf8.Valid(l) {
				s.emit(l)
				continue
			}
		}
		s.feed(seg)
		s.endLine()
	}
}

// finish ends the stream: a final line without '\n' is emitted.
func (s *splitter) finish() {
	if s.inLine {
		s.endLine()
	}
}

// reset drops the emitted lines once the Writer has consumed them.
func (s *splitter) reset() {
	s.out = s.out[:0]
	s.ends = s.ends[:0]
}

func (s *splitter) emit(l []byte) {
	s.out = append(s.out, l...)
	s.out = append(s.out, '\n')
	s.ends = append(s.ends, len(s.out))
}

// feed adds bytes of the current line (no '\n' among them).
func (s *splitter) feed(b []byte) {
	s.inLine = true
	if s.ntail > 0 {
		// Finish the rune the previous Write cut: decode from the old tail
		// plus the first bytes of b until decoding has left the old tail.
		var xb [2 * utf8.UTFMax]byte
		x := append(xb[:0], s.tail[:s.ntail]...)
		x = append(x, b[:min(len(b), utf8.UTFMax)]...)
		pos := 0
		for pos < s.ntail {
			if !utf8.FullRune(x[pos:]) {
				// Only possible when all of b is in x: still incomplete.
				s.ntail = copy(s.tail[:], x[pos:])
				return
			}
			pos += s.rune(x[pos:])
		}
		b = b[pos-s.ntail:]
		s.ntail = 0
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			j := i + 1
			for j < len(b) && b[j] < utf8.RuneSelf {
				j++
			}
			s.cur = append(s.cur, b[i:j]...)
			s.inRun = false
			i = j
			continue
		}
		if !utf8.FullRune(b[i:]) {
			// A rune cut by the end of this Write: wait for the rest, which
			// decides between the rune and U+FFFD.
			s.ntail = copy(s.tail[:], b[i:])
			break
		}
		i += s.rune(b[i:])
	}
	s.cut(false)
}

// rune appends the sanitised form of the rune (or invalid byte) at the start
// of b to cur and returns how many bytes of b it used.
func (s *splitter) rune(b []byte) int {
	r, n := utf8.DecodeRune(b)
	if r == utf8.RuneError && n == 1 {
		if !s.inRun {
			s.cur = append(s.cur, "\uFFFD"...)
			s.inRun = true
		}
		return 1
	}
	s.cur = append(s.cur, b[:n]...)
	s.inRun = false
	return n
}

// endLine emits the rest of the current line.
func (s *splitter) endLine() {
	// At the end of a line an incomplete rune is invalid, as in
	// strings.ToValidUTF8.
	for i := 0; i < s.ntail; {
		i += s.rune(s.tail[i:s.ntail])
	}
	s.ntail = 0
	s.cur = trimCR(s.cur)
	s.cut(true)
	s.emit(s.cur)
	s.cur = s.cur[:0]
	s.inRun = false
	s.inLine = false
}

// cut emits from cur every piece that is certain: the longest prefix of at
// most max bytes ending at a rune boundary, while more than max bytes are
// left. Before the line ends, a lone '\r' past the cut may be the '\r' of a
// "\r\n" that will be dropped, leaving exactly max bytes and no cut, so it
// waits for the next byte.
func (s *splitter) cut(final bool) {
	start := 0
	for len(s.cur)-start > s.max {
		c := start + s.max
		for c > start && !utf8.RuneStart(s.cur[c]) {
			c--
		}
		if !final && len(s.cur)-c == 1 && s.cur[c] == '\r' {
			break
		}
		s.emit(s.cur[start:c])
		start = c
	}
	if start > 0 {
		s.cur = append(s.cur[:0], s.cur[start:]...)
	}
}

func trimCR(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\r' {
		return b[:len(b)-1]
	}
	return b
}
