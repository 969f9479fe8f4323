package tasklog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// The log file holds the numbered lines themselves, already split and
// sanitised, each followed by '\n': line k of the file is log line k. So the
// saver, Read and Recover need no state but a byte offset, and a sparse
// index of those offsets makes Read(from, …) cheap at any depth.

// The index keeps a mark every indexLines lines, or sooner after indexBytes
// bytes, so finding a line scans at most about max(indexLines lines,
// indexBytes) of the file, whatever the log's size and line lengths. A
// million-line log costs about a thousand marks (16 KB).
const (
	indexLines = 1024
	indexBytes = 1 << 20
)

// mark says that line starts at byte off of the file.
type mark struct{ line, off int64 }

// index is a sparse, ascending list of marks; the first is {0, 0}.
type index []mark

// note records that line starts at off, if it is far enough from the last
// mark. Lines must be noted in order.
func (ix *index) note(line, off int64) {
	last := (*ix)[len(*ix)-1]
	if line-last.line >= indexLines || off-last.off >= indexBytes {
		*ix = append(*ix, mark{line, off})
	}
}

// find returns the last mark at or before line.
func (ix index) find(line int64) mark {
	i := sort.Search(len(ix), func(i int) bool { return ix[i].line > line })
	return ix[i-1]
}

// atOrAfter returns the first mark at or after byte off, or {-1, -1}.
func (ix index) atOrAfter(off int64) mark {
	i := sort.Search(len(ix), func(i int) bool { return ix[i].off >= off })
	if i == len(ix) {
		return mark{-1, -1}
	}
	return ix[i]
}

// errShortFile means the file ended before the bytes or lines it should
// hold: something truncated it behind our back.
var errShortFile = errors.New("log file is shorter than expected")

// lineReader reads lines from a log file through ReadAt, which is safe
// concurrently with appends to the file, so readers never take the writer's
// lock while doing I/O. Its buffer is reused between calls.
type lineReader struct {
	r   io.ReaderAt
	buf []byte
	// sanitize: the file may hold invalid UTF-8 (a torn write left by a
	// crash), so check every line. A Writer's own file needs no check.
	sanitize bool
}

// fill reads exactly n bytes at off into the buffer.
func (lr *lineReader) fill(off int64, n int) ([]byte, error) {
	if cap(lr.buf) < n {
		lr.buf = make([]byte, n)
	}
	b := lr.buf[:n]
	m, err := lr.r.ReadAt(b, off)
	if m == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = errShortFile
	}
	return nil, fmt.Errorf("reading log file at byte %d: %w", off, err)
}

// read returns up to maxLines lines from the bytes [off, end) and the offset
// after them: at least one line unless [off, end) holds none, and at most
// chunk bytes of lines (counting their '\n') unless one line alone is
// longer. With partialLast, bytes after the last '\n' before end form a
// line (a log file left by a crash may end without '\n'); otherwise they
// are not read.
//
// With sanitize, invalid UTF-8 (a torn write) is made valid, because the
// lines go into JSON.
func (lr *lineReader) read(off, end int64, maxLines, chunk int, partialLast bool) ([]string, int64, error) {
	if maxLines <= 0 || off >= end {
		return nil, off, nil
	}
	n := int(min(int64(chunk), end-off))
	for grown := false; ; grown = true {
		b, err := lr.fill(off, n)
		if err != nil {
			return nil, off, err
		}
		if grown {
			// The buffer outgrew chunk for one long line: return only that
			// line, so callers' batches stay within chunk otherwise.
			maxLines = 1
		}
		used, count := 0, 0
		for count < maxLines {
			i := bytes.IndexByte(b[used:], '\n')
			if i < 0 {
				break
			}
			used += i + 1
			count++
		}
		if count == 0 {
			if off+int64(n) < end {
				// A line longer than chunk: read more of it.
				n = int(min(2*int64(n), end-off))
				continue
			}
			if !partialLast {
				return nil, off, nil
			}
			used = n
		} else if count < maxLines && partialLast && off+int64(n) == end && used < n {
			used = n
		}
		// One string for the whole chunk: the lines are slices of it, so a
		// chunk of thousands of lines costs one allocation, not thousands.
		s := string(b[:used])
		lines := make([]string, 0, count+1)
		for len(s) > 0 {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				lines = append(lines, s) // the final line without '\n'
				break
			}
			lines = append(lines, s[:i])
			s = s[i+1:]
		}
		for i, l := range lines {
			if lr.sanitize && !utf8.ValidString(l) {
				lines[i] = strings.ToValidUTF8(l, "\uFFFD")
			}
		}
		return lines, off + int64(used), nil
	}
}

// skip returns the offset just past the k-th '\n' at or after off, and how
// many it found before end (fewer than k when the file ends first).
func (lr *lineReader) skip(off, end, k int64) (int64, int64, error) {
	const chunk = 64 << 10
	found := int64(0)
	for found < k && off < end {
		b, err := lr.fill(off, int(min(chunk, end-off)))
		if err != nil {
			return off, found, err
		}
		if c := int64(bytes.Count(b, []byte{'\n'})); found+c < k {
			found += c
			off += int64(len(b))
			continue
		}
		for found < k {
			i := bytes.IndexByte(b, '\n')
			found++
			off += int64(i + 1)
			b = b[i+1:]
		}
	}
	return off, found, nil
}

// count returns the number of lines in [0, end) — a final line without
// '\n' counts — and, if ix is not nil, notes their starts in it.
func (lr *lineReader) count(end int64, ix *index) (int64, error) {
	const chunk = 1 << 20
	lines := int64(0)
	for off := int64(0); off < end; {
		b, err := lr.fill(off, int(min(chunk, end-off)))
		if err != nil {
			return lines, err
		}
		for p := 0; ; {
			i := bytes.IndexByte(b[p:], '\n')
			if i < 0 {
				break
			}
			p += i + 1
			lines++
			if ix != nil {
				ix.note(lines, off+int64(p))
			}
		}
		off += int64(len(b))
		if off == end && b[len(b)-1] != '\n' {
			lines++
		}
	}
	return lines, nil
}
