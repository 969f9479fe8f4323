package unzip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// TestWriteCountsRealBytes checks the streaming limits on their own. Through
// Extract they are hard to reach: plan refuses honest oversized headers, and
// archive/zip itself rejects data longer than its header declares. But the
// copy must not depend on either, so plan under generous limits and write
// under tight ones, as if the headers had lied and the library had not
// noticed.
func TestWriteCountsRealBytes(t *testing.T) {
	random := make([]byte, 5<<20)
	rand.NewChaCha8([32]byte{}).Read(random)
	cases := []struct {
		name    string
		method  uint16
		data    []byte
		tight   Limits
		msg     string
		maxDisk int64 // bytes that may reach the disk before the copy stops
	}{
		{"total", zip.Store, random, Limits{MaxTotal: 1 << 20, MaxRatio: 200}, "archive expands past 1 MiB: refused as a zip bomb", 1<<20 + 1},
		{"ratio", zip.Deflate, make([]byte, 50<<20), Limits{MaxTotal: 1 << 30, MaxRatio: 20}, "more than 20x: refused as a zip bomb", 2 << 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			zw := zip.NewWriter(&buf)
			zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
				return flate.NewWriter(w, flate.BestSpeed) // default is slow under -race
			})
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: "big.bin", Method: tc.method})
			w.Write(tc.data)
			zw.Close()
			zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
			if err != nil {
				t.Fatal(err)
			}

			x := &extraction{lim: Limits{MaxTotal: 1 << 40, MaxRatio: 1 << 20}.withDefaults()}
			if err := x.plan(zr.File); err != nil {
				t.Fatalf("plan under generous limits: %v", err)
			}
			x.lim = tc.tight.withDefaults()
			root, err := os.OpenRoot(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			err = x.write(root)
			if !errors.Is(err, ErrBomb) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `"big.bin"`) {
				t.Fatalf("got %v, want ErrBomb %q naming big.bin", err, tc.msg)
			}
			if fi, err := root.Stat("big.bin"); err != nil || fi.Size() > tc.maxDisk {
				t.Errorf("the copy did not stop early: %v on disk (limit %d), %v", fi.Size(), tc.maxDisk, err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	cases := []struct {
		name  string
		links map[string]string
		want  string // "" for safe, else a phrase of the reason
	}{
		{"l", map[string]string{"l": "."}, ""},
		{"l", map[string]string{"l": "missing/file"}, ""}, // dangling but inside
		{"a/b/c", map[string]string{"a/b/c": "../../d"}, ""},
		{"a/b/c", map[string]string{"a/b/c": "../../../d"}, "escapes"},
		{"a/l", map[string]string{"a/l": "../b/../../x"}, "escapes"},
		{"latest", map[string]string{"latest": "current", "current": "v2"}, ""},
		{"x/up2", map[string]string{"x/up": "..", "x/up2": "up/.."}, "escapes"},
		{"x/up2", map[string]string{"x/up": "..", "x/up2": "up/spider"}, ""},
		{"l2", map[string]string{"d/l1": "../x", "l2": "d/l1"}, ""},
		{"l2", map[string]string{"d/e/l1": "../..", "l2": "d/e/l1/.."}, "escapes"},
		{"a", map[string]string{"a": "b", "b": "a"}, "too many levels"},
		{"a", map[string]string{"a": "a/x"}, "too many levels"},
		{"a", map[string]string{"a": strings.Repeat("./", maxSteps+1)}, "too many steps"},
	}
	for _, tc := range cases {
		got := resolve(tc.name, tc.links)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("resolve(%q, %.80v) = %q, want %q", tc.name, tc.links, got, tc.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	cases := []struct{ raw, want, why string }{
		{"a/b.py", "a/b.py", ""},
		{"a/", "a", ""},
		{"./a//b/./c", "a/b/c", ""},
		{"a/../b", "b", ""},
		{"./", ".", ""},
		{"..", "", "escapes"},
		{"a/../..", "", "escapes"},
		{"/a", "", "absolute"},
		{"c:x", "", "absolute"},
		{`a\b`, "", "backslash"},
		{"a\x00b", "", "NUL"},
		{"", "", "empty"},
		{strings.Repeat("a", maxNameLen+1), "", "longer"},
		{"2024-01-01T00:00.json", "2024-01-01T00:00.json", ""}, // colons are fine past the drive position
	}
	for _, tc := range cases {
		got, why := cleanName(tc.raw)
		if got != tc.want || (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
			t.Errorf("cleanName(%.20q) = %q, %q; want %q, %q", tc.raw, got, why, tc.want, tc.why)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1 << 10: "1 KiB", 1536: "1.5 KiB", 10 << 20: "10 MiB", 1 << 30: "1 GiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
