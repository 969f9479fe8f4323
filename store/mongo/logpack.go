package mongo

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// pack stores lines as one byte string: each line as its length (a
// uvarint) and its bytes, the whole compressed with DEFLATE (RFC 1951).
// Log lines compress several times over, and on FerretDB every lookup
// costs time in proportion to the bytes of all documents in task_logs.
func pack(lines []string) ([]byte, error) {
	size := 0
	for _, line := range lines {
		size += binary.MaxVarintLen64 + len(line)
	}
	raw := make([]byte, 0, size)
	for _, line := range lines {
		raw = binary.AppendUvarint(raw, uint64(len(line)))
		raw = append(raw, line...)
	}
	var buf bytes.Buffer
	buf.Grow(len(raw)/4 + 64)
	w := flateWriters.Get().(*flate.Writer)
	defer flateWriters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var flateWriters = sync.Pool{New: func() any {
	w, err := flate.NewWriter(nil, flate.DefaultCompression)
	if err != nil {
		panic(err) // only for a bad level
	}
	return w
}}

// unpack reverses pack.
func unpack(packed []byte) ([]string, error) {
	r := flate.NewReader(bytes.NewReader(packed))
	defer r.Close()
	raw, err := io.ReadAll(io.LimitReader(r, maxPackedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("unpack lines: %w", err)
	}
	if len(raw) > maxPackedBytes {
		return nil, errors.New("unpack lines: more than a chunk may hold")
	}
	// One string for all lines, which share it.
	all := string(raw)
	var lines []string
	for pos := 0; pos < len(raw); {
		n, w := binary.Uvarint(raw[pos:])
		if w <= 0 || n > uint64(len(raw)-pos-w) {
			return nil, errors.New("unpack lines: corrupt")
		}
		pos += w
		lines = append(lines, all[pos:pos+int(n)])
		pos += int(n)
	}
	return lines, nil
}

// encodeIndex stores the ascending starts of chunks as uvarints: the first
// start, then each start's distance from the one before.
func encodeIndex(starts []int64) []byte {
	var b []byte
	prev := int64(0)
	for _, s := range starts {
		b = binary.AppendUvarint(b, uint64(s-prev))
		prev = s
	}
	return b
}

// decodeIndex reverses encodeIndex, refusing what it cannot have made.
func decodeIndex(b []byte) ([]int64, error) {
	var starts []int64
	prev := int64(0)
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 || d > 1<<62 || (len(starts) > 0 && d == 0) {
			return nil, errors.New("corrupt log index")
		}
		prev += int64(d)
		if prev < 0 {
			return nil, errors.New("corrupt log index")
		}
		starts = append(starts, prev)
		b = b[n:]
	}
	return starts, nil
}
