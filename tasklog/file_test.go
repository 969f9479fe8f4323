package tasklog

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestLineReader: read returns every line once, in order, within its chunk
// unless one line alone is longer; skip and count agree with it.
func TestLineReader(t *testing.T) {
	var file bytes.Buffer
	var want []string
	for i := range 3000 {
		l := fmt.Sprintf("line %d %s", i, strings.Repeat("x", (i*7919)%300))
		if i%500 == 0 {
			l = strings.Repeat("L", 5000+i) // longer than the chunk
		}
		want = append(want, l)
		file.WriteString(l + "\n")
	}
	r := bytes.NewReader(file.Bytes())
	end := int64(file.Len())
	for _, chunk := range []int{1, 100, 1000, 4096, 1 << 20} {
		lr := lineReader{r: r}
		var got []string
		for off := int64(0); off < end; {
			lines, next, err := lr.read(off, end, 50, chunk, false)
			if err != nil || len(lines) == 0 {
				t.Fatalf("chunk %d: read at %d: %d lines, %v", chunk, off, len(lines), err)
			}
			size := 0
			for _, l := range lines {
				size += len(l) + 1
			}
			if len(lines) > 50 || (size > chunk && len(lines) > 1) {
				t.Fatalf("chunk %d: %d lines of %d bytes", chunk, len(lines), size)
			}
			got = append(got, lines...)
			off = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("chunk %d: lines differ", chunk)
		}
	}

	lr := lineReader{r: r}
	var ix index = index{{0, 0}}
	if n, err := lr.count(end, &ix); err != nil || n != int64(len(want)) {
		t.Fatalf("count = %d, %v", n, err)
	}
	for _, line := range []int64{0, 1, 499, 500, 1024, 2047, 2999} {
		m := ix.find(line)
		off, found, err := lr.skip(m.off, end, line-m.line)
		if err != nil || found != line-m.line {
			t.Fatalf("skip to %d: found %d, %v", line, found, err)
		}
		lines, _, err := lr.read(off, end, 1, 64, false)
		if err != nil || len(lines) != 1 || lines[0] != want[line] {
			t.Fatalf("line %d via index: %.40q, %v", line, lines, err)
		}
	}

	// A final line without '\n' counts, and is read with partialLast.
	torn := bytes.NewReader([]byte("a\nb\ntorn \xe2\x82"))
	lr = lineReader{r: torn, sanitize: true}
	if n, err := lr.count(torn.Size(), nil); err != nil || n != 3 {
		t.Fatalf("count of a torn file = %d, %v", n, err)
	}
	lines, next, err := lr.read(0, torn.Size(), 10, 1<<10, true)
	if err != nil || !slices.Equal(lines, []string{"a", "b", "torn \uFFFD"}) || next != torn.Size() {
		t.Fatalf("read of a torn file = %q, %d, %v", lines, next, err)
	}
	if lines, next, _ := lr.read(0, torn.Size(), 10, 1<<10, false); len(lines) != 2 || next != 4 {
		t.Fatalf("read of a torn file without partialLast = %q, %d", lines, next)
	}
}
