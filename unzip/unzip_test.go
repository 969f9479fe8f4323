package unzip_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/crawlhub/crawlhub/unzip"
)

func extract(data []byte, dest string, lim unzip.Limits) error {
	return unzip.Extract(bytes.NewReader(data), int64(len(data)), dest, lim)
}

// goodArchive is a realistic spider: nested directories, an executable
// script, a setuid bit to be dropped, symlinks that stay inside.
func goodArchive(tb testing.TB) []byte {
	return buildZip(tb,
		dir("./"),
		dir("spider/"),
		ent{name: "spider/main.py", body: "print('hi')\n"},
		exe("spider/run.sh", "#!/bin/sh\nexec python3 main.py\n"),
		ent{name: "spider/lib/util.py", body: "X = 1\n"}, // parent only implied
		ent{name: "spider/./conf//settings.toml", body: "a = 1\n"},
		ent{name: "tools/suid", body: "x", mode: fs.ModeSetuid | fs.ModeSetgid | 0o4755},
		ent{name: "cache/", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		ent{name: "dos-dir/", mode: 0o644}, // MS-DOS style: a directory only by its slash
		symlink("bin/run", "../spider/run.sh"),
		symlink("current", "spider"),
		symlink("latest", "current"), // a chain of links staying inside
		symlink("self", "."),
	)
}

var goodTree = map[string]string{
	".":                         "d 0755",
	"spider":                    "d 0755",
	"spider/main.py":            "f 0644 print('hi')\n",
	"spider/run.sh":             "f 0755 #!/bin/sh\nexec python3 main.py\n",
	"spider/lib":                "d 0755",
	"spider/lib/util.py":        "f 0644 X = 1\n",
	"spider/conf":               "d 0755",
	"spider/conf/settings.toml": "f 0644 a = 1\n",
	"tools":                     "d 0755",
	"tools/suid":                "f 0755 x",
	"cache":                     "d 0755",
	"dos-dir":                   "d 0755",
	"bin":                       "d 0755",
	"bin/run":                   "l ../spider/run.sh",
	"current":                   "l spider",
	"latest":                    "l current",
	"self":                      "l .",
}

func TestExtractGood(t *testing.T) {
	sb := newSandbox(t)
	if err := extract(goodArchive(t), sb.dest, unzip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(goodTree, tree(t, sb.dest)); d != "" {
		t.Errorf("extracted tree differs:\n%s", d)
	}
	// The links work, not just exist.
	if b, err := os.ReadFile(filepath.Join(sb.dest, "latest", "run.sh")); err != nil || !strings.HasPrefix(string(b), "#!/bin/sh") {
		t.Errorf("read through latest -> current -> spider: %q, %v", b, err)
	}
	assertOnly(t, sb.work, "spider")
	assertOnly(t, sb.base, "work")
}

// TestExtractUmask checks modes do not depend on the agent's umask. It
// changes a process-wide setting, so it must not run in parallel.
func TestExtractUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	sb := newSandbox(t)
	if err := extract(goodArchive(t), sb.dest, unzip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(goodTree, tree(t, sb.dest)); d != "" {
		t.Errorf("with umask 077, tree differs:\n%s", d)
	}
}

func TestExtractReplaces(t *testing.T) {
	sb := newSandbox(t)
	v1 := buildZip(t, ent{name: "a.py", body: "v1"}, ent{name: "old/only-in-v1.py", body: "x"})
	v2 := buildZip(t, ent{name: "a.py", body: "v2"}, exe("new.sh", "#!/bin/sh\n"))
	for _, v := range [][]byte{v1, v2} {
		if err := extract(v, sb.dest, unzip.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{".": "d 0755", "a.py": "f 0644 v2", "new.sh": "f 0755 #!/bin/sh\n"}
	if d := diffTrees(want, tree(t, sb.dest)); d != "" {
		t.Errorf("after replacing v1 with v2:\n%s", d)
	}
	assertOnly(t, sb.work, "spider") // no temporary or old directory left
}

// TestExtractReplaceIsAtomic replaces dest over and over while a reader keeps
// opening it: whatever version the reader gets, it is complete.
func TestExtractReplaceIsAtomic(t *testing.T) {
	sb := newSandbox(t)
	const versions = 30
	payload := func(v int) string { return strings.Repeat(fmt.Sprintf("version %03d\n", v), 20_000) }
	archives := make([][]byte, versions)
	for v := range archives {
		archives[v] = buildZip(t, ent{name: "version", body: fmt.Sprint(v)}, ent{name: "data/payload", body: payload(v)})
	}
	if err := extract(archives[0], sb.dest, unzip.Limits{}); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	var seen int
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			// A Root pins one directory, so both reads see the same version.
			root, err := os.OpenRoot(sb.dest)
			if err != nil {
				continue // between the two renames dest is briefly absent
			}
			v, err1 := root.ReadFile("version")
			p, err2 := root.ReadFile("data/payload")
			if err1 != nil || err2 != nil {
				// Files may vanish from the previous version, which is
				// deleted once replaced; that is not a partial tree at dest.
				pinned, _ := root.Stat(".")
				current, err := os.Stat(sb.dest)
				if err == nil && os.SameFile(pinned, current) {
					t.Errorf("incomplete tree at dest: %v, %v", err1, err2)
				}
				root.Close()
				continue
			}
			root.Close()
			var n int
			fmt.Sscan(string(v), &n)
			if string(p) != payload(n) {
				t.Errorf("version %d: payload is partial or from another version (%d bytes)", n, len(p))
				return
			}
			seen++
		}
	})
	for v := 1; v < versions; v++ {
		if err := extract(archives[v], sb.dest, unzip.Limits{}); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	t.Logf("reader saw %d complete trees", seen)
	assertOnly(t, sb.work, "spider")
}

// hostile is a refused archive: the sentinel, the entry the message must name
// (empty for archive-wide refusals) and a phrase of the reason.
type hostile struct {
	name    string
	archive func(testing.TB) []byte
	lim     unzip.Limits
	err     error
	entry   string // the entry the message names, unless archiveWide
	msg     string
	// archiveWide refusals (not a zip, too large) concern no single entry.
	archiveWide bool
}

func zipOf(entries ...ent) func(testing.TB) []byte {
	return func(tb testing.TB) []byte { return buildZip(tb, entries...) }
}

func bytesOf(b []byte) func(testing.TB) []byte { return func(testing.TB) []byte { return b } }

func incompressible(n int) string {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{})
	r.Read(b)
	return string(b)
}

var ok = ent{name: "ok.py", body: "print('ok')\n"}

func hostileCases(tb testing.TB) []hostile {
	good := buildZip(tb, ok)
	return []hostile{
		{name: "garbage", archiveWide: true, archive: bytesOf([]byte("this is not a zip file at all")), err: unzip.ErrNotZip, msg: "not a zip archive: "},
		{name: "empty input", archiveWide: true, archive: bytesOf(nil), err: unzip.ErrNotZip, msg: "not a zip archive: "},
		{name: "truncated", archiveWide: true, archive: bytesOf(good[:len(good)-10]), err: unzip.ErrNotZip, msg: "not a zip archive: "},
		{name: "archive over MaxArchive", archiveWide: true, archive: zipOf(ent{name: "r.bin", body: incompressible(4 << 10), store: true}),
			lim: unzip.Limits{MaxArchive: 1 << 10}, err: unzip.ErrTooLarge, msg: "over the 1 KiB limit"},

		{name: "dotdot", archive: zipOf(ok, ent{name: "../evil.sh", body: "x"}), err: unzip.ErrUnsafePath, entry: "../evil.sh", msg: `escapes the archive root`},
		{name: "nested dotdot", archive: zipOf(ent{name: "a/b/../../../evil", body: "x"}), err: unzip.ErrUnsafePath, entry: "a/b/../../../evil", msg: "escapes"},
		{name: "absolute", archive: zipOf(ent{name: "/etc/cron.d/evil", body: "x"}), err: unzip.ErrUnsafePath, entry: "/etc/cron.d/evil", msg: "absolute path"},
		{name: "drive letter", archive: zipOf(ent{name: "C:/Windows/evil", body: "x"}), err: unzip.ErrUnsafePath, entry: "C:/Windows/evil", msg: "absolute path"},
		{name: "backslash drive", archive: zipOf(ent{name: `C:\Windows\evil`, body: "x"}), err: unzip.ErrUnsafePath, entry: `C:\Windows\evil`, msg: "backslash"},
		{name: "backslash dotdot", archive: zipOf(ent{name: `..\evil`, body: "x"}), err: unzip.ErrUnsafePath, entry: `..\evil`, msg: "backslash"},
		{name: "empty name", archive: zipOf(ok, ent{name: "", body: "x"}), err: unzip.ErrUnsafePath, entry: "", msg: "empty name"},
		{name: "root as a file", archive: zipOf(ent{name: ".", body: "x"}), err: unzip.ErrUnsafePath, entry: ".", msg: "extraction root itself"},
		{name: "duplicate", archive: zipOf(ok, ent{name: "ok.py", body: "evil"}), err: unzip.ErrUnsafePath, entry: "ok.py", msg: "duplicate entry"},
		{name: "duplicate after cleaning", archive: zipOf(ok, ent{name: "./x/../ok.py", body: "evil"}), err: unzip.ErrUnsafePath, entry: "./x/../ok.py", msg: "duplicate entry"},
		{name: "file and directory", archive: zipOf(ent{name: "a", body: "x"}, dir("a/")), err: unzip.ErrUnsafePath, entry: "a/", msg: "duplicate entry"},
		{name: "below a file", archive: zipOf(ent{name: "a", body: "x"}, ent{name: "a/b", body: "y"}), err: unzip.ErrUnsafePath, entry: "a/b", msg: `parent "a" is a file`},

		{name: "absolute symlink", archive: zipOf(ok, symlink("etc", "/etc")), err: unzip.ErrUnsafeLink, entry: "etc", msg: "is absolute"},
		{name: "escaping symlink", archive: zipOf(symlink("sub/up", "../../outside")), err: unzip.ErrUnsafeLink, entry: "sub/up", msg: "escapes the archive root"},
		{name: "symlink escaping through another", archive: zipOf(symlink("x/up", ".."), symlink("x/up2", "up/..")),
			err: unzip.ErrUnsafeLink, entry: "x/up2", msg: "escapes the archive root"},
		{name: "symlink loop", archive: zipOf(symlink("a", "b"), symlink("b", "a")), err: unzip.ErrUnsafeLink, entry: "a", msg: "too many levels"},
		{name: "backslash symlink", archive: zipOf(symlink("w", `C:\Windows`)), err: unzip.ErrUnsafeLink, entry: "w", msg: "backslash"},
		{name: "empty symlink", archive: zipOf(symlink("e", "")), err: unzip.ErrUnsafeLink, entry: "e", msg: "empty target"},
		{name: "long symlink", archive: zipOf(symlink("l", strings.Repeat("a/", 3000))), err: unzip.ErrUnsafeLink, entry: "l", msg: "longer than 4096 bytes"},
		{name: "write through symlink", archive: zipOf(dir("sub/"), symlink("link", "sub"), ent{name: "link/x", body: "x"}),
			err: unzip.ErrUnsafeLink, entry: "link/x", msg: `parent "link" is a symlink`},
		{name: "write through symlink listed first", archive: zipOf(ent{name: "link/x", body: "x"}, symlink("link", "sub"), dir("sub/")),
			err: unzip.ErrUnsafeLink, entry: "link/x", msg: `parent "link" is a symlink`},
		{name: "symlink through symlink", archive: zipOf(symlink("l1", "."), symlink("l1/l2", "..")),
			err: unzip.ErrUnsafeLink, entry: "l1/l2", msg: `parent "l1" is a symlink`},

		{name: "block device", archive: zipOf(ok, ent{name: "sda", mode: fs.ModeDevice | 0o660}), err: unzip.ErrSpecialFile, entry: "sda", msg: "is a device file"},
		{name: "char device", archive: zipOf(ent{name: "dev/null", mode: fs.ModeDevice | fs.ModeCharDevice | 0o666}), err: unzip.ErrSpecialFile, entry: "dev/null", msg: "is a character device"},
		{name: "named pipe", archive: zipOf(ent{name: "fifo", mode: fs.ModeNamedPipe | 0o644}), err: unzip.ErrSpecialFile, entry: "fifo", msg: "is a named pipe"},
		{name: "socket", archive: zipOf(ent{name: "sock", mode: fs.ModeSocket | 0o644}), err: unzip.ErrSpecialFile, entry: "sock", msg: "is a socket"},

		{name: "too many entries", archive: zipOf(ent{name: "1"}, ent{name: "2"}, ent{name: "3"}, ent{name: "4"}),
			lim: unzip.Limits{MaxFiles: 3}, err: unzip.ErrBomb, entry: "4", msg: "more than 3 entries: refused as a zip bomb"},
		{name: "expands past MaxTotal", archive: zipOf(ok, ent{name: "bomb.bin", zeros: 50 << 20}),
			lim: unzip.Limits{MaxTotal: 10 << 20, MaxRatio: 1 << 20}, err: unzip.ErrBomb, entry: "bomb.bin", msg: "archive expands past 10 MiB: refused as a zip bomb"},
		{name: "many files past MaxTotal", archive: zipOf(
			ent{name: "a.bin", body: incompressible(4 << 20), store: true},
			ent{name: "b.bin", body: incompressible(4 << 20), store: true},
			ent{name: "c.bin", body: incompressible(4 << 20), store: true}),
			lim: unzip.Limits{MaxTotal: 10 << 20}, err: unzip.ErrBomb, entry: "c.bin", msg: "archive expands past 10 MiB"},
		{name: "ratio", archive: zipOf(ok, ent{name: "zeros.bin", zeros: 50 << 20}),
			err: unzip.ErrBomb, entry: "zeros.bin", msg: "more than 200x: refused as a zip bomb"},
		{name: "header lies about size", archive: zipOf(ok, ent{name: "liar.bin", raw: true, zeros: 5 << 20, declSize: 100}),
			err: unzip.ErrNotZip, entry: "liar.bin", msg: "corrupt data"},
		{name: "bad checksum after good files", archive: zipOf(ok, exe("run.sh", "#!/bin/sh\n"), ent{name: "bad.py", raw: true, body: "print(1)\n", crc: 1}),
			err: unzip.ErrNotZip, entry: "bad.py", msg: "corrupt data"},
		{name: "unknown method", archive: zipOf(ent{name: "m.bin", raw: true, body: "x", method: 99}),
			err: unzip.ErrNotZip, entry: "m.bin", msg: "unsupported compression method 99"},
		{name: "encrypted", archive: zipOf(ent{name: "secret.py", body: "x", flags: 0x1}),
			err: unzip.ErrNotZip, entry: "secret.py", msg: "encrypted"},
	}
}

func TestExtractRefuses(t *testing.T) {
	good := goodArchive(t)
	for _, tc := range hostileCases(t) {
		archive := tc.archive(t)
		for _, existing := range []bool{false, true} {
			name := tc.name
			if existing {
				name += "/over existing"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				sb := newSandbox(t)
				if existing {
					if err := extract(good, sb.dest, unzip.Limits{}); err != nil {
						t.Fatal(err)
					}
				}
				before := tree(t, sb.base)

				err := extract(archive, sb.dest, tc.lim)
				if err == nil {
					t.Fatal("extracted a hostile archive")
				}
				t.Log(err)
				if !errors.Is(err, tc.err) {
					t.Errorf("error %q is not %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
				var ee *unzip.EntryError
				if !tc.archiveWide {
					if !errors.As(err, &ee) || ee.Name != tc.entry {
						t.Errorf("error %q: want an *EntryError for %q", err, tc.entry)
					}
					if quoted := fmt.Sprintf("%q", tc.entry); !strings.Contains(err.Error(), quoted) {
						t.Errorf("error %q does not name entry %s", err, quoted)
					}
				}
				// Nothing written anywhere, dest absent or exactly as before.
				if d := diffTrees(before, tree(t, sb.base)); d != "" {
					t.Errorf("refusal changed the file system:\n%s", d)
				}
			})
		}
	}
}

// TestInsecurePathGodebug: with zipinsecurepath=0 archive/zip flags "../x"
// itself; we still refuse with our own message naming the entry.
func TestInsecurePathGodebug(t *testing.T) {
	t.Setenv("GODEBUG", "zipinsecurepath=0")
	sb := newSandbox(t)
	err := extract(buildZip(t, ok, ent{name: "../evil", body: "x"}), sb.dest, unzip.Limits{})
	var ee *unzip.EntryError
	if !errors.Is(err, unzip.ErrUnsafePath) || !errors.As(err, &ee) || ee.Name != "../evil" {
		t.Fatalf("got %v, want ErrUnsafePath naming ../evil", err)
	}
	assertOnly(t, sb.work)
}

func TestBombIsTooLarge(t *testing.T) {
	// Callers that map "too big" to HTTP 413 need only one check.
	sb := newSandbox(t)
	err := extract(buildZip(t, ent{name: "1"}, ent{name: "2"}), sb.dest, unzip.Limits{MaxFiles: 1})
	if !errors.Is(err, unzip.ErrBomb) || !errors.Is(err, unzip.ErrTooLarge) {
		t.Fatalf("got %v, want ErrBomb that is also ErrTooLarge", err)
	}
}

func TestExtractDest(t *testing.T) {
	archive := goodArchive(t)
	t.Run("dest is a file", func(t *testing.T) {
		sb := newSandbox(t)
		os.WriteFile(sb.dest, []byte("keep"), 0o644)
		before := tree(t, sb.base)
		err := extract(archive, sb.dest, unzip.Limits{})
		if err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("got %v, want a refusal to replace a file", err)
		}
		if d := diffTrees(before, tree(t, sb.base)); d != "" {
			t.Errorf("changed:\n%s", d)
		}
	})
	t.Run("parent missing", func(t *testing.T) {
		sb := newSandbox(t)
		if err := extract(archive, filepath.Join(sb.work, "no", "such", "dir"), unzip.Limits{}); err == nil {
			t.Error("extracted into a missing parent")
		}
		assertOnly(t, sb.work)
	})
	for _, dest := range []string{"", ".", "/", ".."} {
		t.Run(fmt.Sprintf("dest %q", dest), func(t *testing.T) {
			if err := extract(archive, dest, unzip.Limits{}); err == nil || !strings.Contains(err.Error(), "invalid destination") {
				t.Errorf("got %v, want invalid destination", err)
			}
		})
	}
}

func TestExtractFile(t *testing.T) {
	sb := newSandbox(t)
	zipPath := filepath.Join(sb.base, "spider.zip")
	if err := os.WriteFile(zipPath, goodArchive(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unzip.ExtractFile(zipPath, sb.dest, unzip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if d := diffTrees(goodTree, tree(t, sb.dest)); d != "" {
		t.Errorf("extracted tree differs:\n%s", d)
	}
	if err := unzip.ExtractFile(zipPath, sb.dest, unzip.Limits{MaxArchive: 100}); !errors.Is(err, unzip.ErrTooLarge) {
		t.Errorf("MaxArchive 100: got %v, want ErrTooLarge", err)
	}
	if err := unzip.ExtractFile(sb.work, sb.dest, unzip.Limits{}); !errors.Is(err, unzip.ErrNotZip) {
		t.Errorf("a directory: got %v, want ErrNotZip", err)
	}
	if err := unzip.ExtractFile(filepath.Join(sb.base, "missing.zip"), sb.dest, unzip.Limits{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	if d := diffTrees(goodTree, tree(t, sb.dest)); d != "" {
		t.Errorf("failed calls changed dest:\n%s", d)
	}
}

// assertOnly checks dir holds exactly the named entries: no temporary or
// "old" directory was left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if fmt.Sprint(got) != fmt.Sprint(names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}
