package unzip_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/unzip"
)

var fuzzLimits = unzip.Limits{MaxTotal: 1 << 20, MaxFiles: 64}

// FuzzExtract feeds arbitrary bytes to Extract. Without -fuzz it runs the
// seed corpus: the good archive and every small hostile test archive.
func FuzzExtract(f *testing.F) {
	f.Add(goodArchive(f))
	f.Add([]byte("PK\x03\x04 not really"))
	for _, tc := range hostileCases(f) {
		if b := tc.archive(f); len(b) < 256<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sb := newSandbox(t)
		err := unzip.Extract(bytes.NewReader(data), int64(len(data)), sb.dest, fuzzLimits)
		checkExtraction(t, sb, err)
	})
}

// FuzzExtractEntries fuzzes well-formed archives with hostile structure,
// which random bytes rarely reach: names, symlink targets and types. Each
// line of spec is one entry: "f name", "x name" (executable), "d name",
// "l name>target", "p name" (named pipe).
func FuzzExtractEntries(f *testing.F) {
	for _, s := range []string{
		"d a/\nf a/b\nx run.sh\nl bin/run>../run.sh",
		"l x/up>..\nl x/up2>up/..",
		"l link>sub\nd sub/\nf link/x",
		"f link/x\nl link>sub",
		"l a>b\nl b>a",
		"l cur>v1\nl latest>cur\nd v1/\nf v1/main.py",
		"l d/e/l1>../..\nl l2>d/e/l1/..",
		"f ../x\nf /abs\nf a/../../b",
		"l s>.\nf s/x",
		"p fifo",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		var entries []ent
		for line := range strings.SplitSeq(spec, "\n") {
			if len(line) < 2 {
				continue
			}
			name := line[2:]
			switch line[0] {
			case 'f':
				entries = append(entries, ent{name: name, body: "x"})
			case 'x':
				entries = append(entries, exe(name, "#!/bin/sh\n"))
			case 'd':
				entries = append(entries, dir(name))
			case 'p':
				entries = append(entries, ent{name: name, mode: fs.ModeNamedPipe | 0o644})
			case 'l':
				n, target, _ := strings.Cut(name, ">")
				entries = append(entries, symlink(n, target))
			}
		}
		sb := newSandbox(t)
		err := extract(buildZip(t, entries...), sb.dest, fuzzLimits)
		checkExtraction(t, sb, err)
	})
}

// checkExtraction asserts what must hold after any Extract: nothing appears
// outside dest's parent, dest exists only on success, every error is
// classified, and a successful extraction holds only plain directories,
// files with sanitized modes and symlinks that resolve inside dest.
func checkExtraction(t *testing.T, sb sandbox, err error) {
	t.Helper()
	assertOnly(t, sb.base, "work")
	if err != nil {
		assertOnly(t, sb.work)
		var ee *unzip.EntryError
		classified := errors.As(err, &ee)
		for _, s := range []error{unzip.ErrNotZip, unzip.ErrTooLarge, unzip.ErrUnsafePath, unzip.ErrUnsafeLink, unzip.ErrSpecialFile} {
			classified = classified || errors.Is(err, s)
		}
		if !classified {
			t.Fatalf("unclassified error: %v", err)
		}
		return
	}
	assertOnly(t, sb.work, "spider")

	root, err := os.OpenRoot(sb.dest)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for rel, desc := range tree(t, sb.dest) {
		switch {
		case desc == "d 0755", strings.HasPrefix(desc, "f 0644 "), strings.HasPrefix(desc, "f 0755 "):
		case strings.HasPrefix(desc, "l "):
			if filepath.IsAbs(desc[2:]) {
				t.Errorf("%s: absolute symlink %s", rel, desc)
			}
			// os.Root follows links itself and refuses ("path escapes from
			// parent") any that leave the root: an independent check of our
			// resolver. Dangling links inside are fine.
			if _, err := root.Stat(rel); err != nil && strings.Contains(err.Error(), "escapes from parent") {
				t.Errorf("%s: symlink %s leaves dest: %v", rel, desc, err)
			}
		default:
			t.Errorf("%s: unexpected %s", rel, desc)
		}
	}
}
