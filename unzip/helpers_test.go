package unzip_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ent describes one entry of a test archive.
type ent struct {
	name  string
	body  string      // content; for a symlink, its target
	mode  fs.FileMode // zero means a regular 0644 file
	zeros int64       // if set, the body is this many zero bytes, streamed
	store bool        // Store instead of Deflate
	flags uint16      // extra general-purpose flags (0x1: encrypted)

	// Hand-crafted entries, written with CreateRaw: data is the real content
	// (deflated by the builder unless method is set), the header declares
	// declSize bytes and crc instead of the truth when those are set.
	raw      bool
	declSize uint64
	crc      uint32
	method   uint16
}

func symlink(name, target string) ent {
	return ent{name: name, body: target, mode: fs.ModeSymlink | 0o777}
}

func dir(name string) ent { return ent{name: name, mode: fs.ModeDir | 0o755} }

func exe(name, body string) ent { return ent{name: name, body: body, mode: 0o755} }

// buildZip writes a zip archive of entries, failing the test on error.
func buildZip(tb testing.TB, entries ...ent) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// BestSpeed still squeezes zeros 800x, and deflates 50 MiB several
	// times faster than the default level under -race.
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	for _, e := range entries {
		if err := addEntry(zw, e); err != nil {
			tb.Fatalf("build entry %q: %v", e.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func addEntry(zw *zip.Writer, e ent) error {
	if e.raw {
		return addRaw(zw, e)
	}
	h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
	if e.store || e.mode&fs.ModeSymlink != 0 {
		h.Method = zip.Store
	}
	mode := e.mode
	if mode == 0 {
		mode = 0o644
	}
	h.SetMode(mode)
	w, err := zw.CreateHeader(h)
	if err != nil || strings.HasSuffix(e.name, "/") {
		return err // archive/zip refuses content for directory names
	}
	if e.zeros > 0 {
		_, err = io.CopyN(w, zeroReader{}, e.zeros)
		return err
	}
	_, err = io.WriteString(w, e.body)
	return err
}

// addRaw writes an entry whose header says whatever the test wants.
func addRaw(zw *zip.Writer, e ent) error {
	data := []byte(e.body)
	if e.zeros > 0 {
		data = make([]byte, e.zeros)
	}
	h := &zip.FileHeader{
		Name:               e.name,
		Method:             e.method,
		CRC32:              crc32.ChecksumIEEE(data),
		UncompressedSize64: uint64(len(data)),
	}
	h.SetMode(0o644)
	if e.declSize != 0 {
		h.UncompressedSize64 = e.declSize
	}
	if e.crc != 0 {
		h.CRC32 = e.crc
	}
	payload := data
	if e.method == 0 {
		h.Method = zip.Deflate
		var c bytes.Buffer
		fw, _ := flate.NewWriter(&c, flate.BestSpeed)
		fw.Write(data)
		fw.Close()
		payload = c.Bytes()
	}
	h.CompressedSize64 = uint64(len(payload))
	w, err := zw.CreateRaw(h)
	if err != nil {
		return err
	}
	_, err = w.Write(payload)
	return err
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// sandbox is base/work/spider: work is dest's parent, where Extract may put
// its temporary directories; base is "outside", where nothing may appear.
type sandbox struct{ base, work, dest string }

func newSandbox(tb testing.TB) sandbox {
	base := tb.TempDir()
	work := filepath.Join(base, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		tb.Fatal(err)
	}
	return sandbox{base, work, filepath.Join(work, "spider")}
}

// tree describes everything below root, one line per path: "d 0755",
// "f 0644 <content or hash>" or "l <target>". Comparing two trees catches any
// file written, changed or left behind.
func tree(tb testing.TB, root string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "l " + t
		case fi.IsDir():
			out[rel] = fmt.Sprintf("d %04o", fi.Mode().Perm())
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			content := string(b)
			if len(b) > 64 {
				content = fmt.Sprintf("sha256:%x", sha256.Sum256(b))
			}
			out[rel] = fmt.Sprintf("f %04o %s", fi.Mode().Perm(), content)
		default:
			out[rel] = "special " + fi.Mode().String()
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func diffTrees(want, got map[string]string) string {
	var s string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			s += fmt.Sprintf("  missing %s (%s)\n", k, w)
		} else if g != w {
			s += fmt.Sprintf("  %s: got %q, want %q\n", k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			s += fmt.Sprintf("  unexpected %s (%s)\n", k, g)
		}
	}
	return s
}
