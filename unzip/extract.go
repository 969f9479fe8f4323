package unzip

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strings"
)

const (
	// maxNameLen matches Linux PATH_MAX; longer names could not be created
	// anyway, and the cap bounds the per-entry parent walk.
	maxNameLen = 4096
	// maxTarget bounds how much of a symlink entry we read as its target.
	maxTarget = 4096
	// maxHops is the kernel's MAXSYMLINKS: deeper chains fail with ELOOP at
	// run time, so we refuse them up front.
	maxHops = 40
	// maxSteps bounds the work of resolving one symlink, so a crafted set of
	// links cannot make resolution quadratic.
	maxSteps = 4 * maxTarget
)

type kind int

const (
	kindDir kind = iota
	kindFile
	kindLink
)

// entry is a zip entry that passed every check that does not need its data.
type entry struct {
	f      *zip.File
	name   string // cleaned, slash-separated, relative to the root
	kind   kind
	exec   bool   // files: any executable bit set in the archive
	target string // links: the checked target
}

// extraction carries one Extract call from plan to write.
type extraction struct {
	lim     Limits
	entries []entry
	total   int64 // uncompressed bytes read so far, for MaxTotal
}

// plan checks the whole archive before anything is written: names, types,
// duplicates, parents, symlink targets and the declared sizes. Declared sizes
// are only a cheap early refusal; write counts the real bytes again.
func (x *extraction) plan(files []*zip.File) error {
	if len(files) > x.lim.MaxFiles {
		return entryErr(files[x.lim.MaxFiles].Name, ErrBomb,
			"archive has more than %d entries: refused as a zip bomb", x.lim.MaxFiles)
	}
	kinds := make(map[string]kind, len(files))
	var declared uint64
	for _, f := range files {
		e, err := classify(f)
		if err != nil {
			return err
		}
		if e.name == "." {
			// "./" is the root itself, which we create anyway.
			continue
		}
		if _, dup := kinds[e.name]; dup {
			return entryErr(f.Name, ErrUnsafePath, "duplicate entry for %q: which copy wins would depend on the extractor; re-create the archive", e.name)
		}
		kinds[e.name] = e.kind
		if e.kind == kindFile {
			size := f.UncompressedSize64
			declared += min(size, math.MaxInt64) // clamped: the sum stays below 2^64, so it cannot wrap to a small number
			if declared > uint64(x.lim.MaxTotal) {
				return x.totalBomb(f.Name)
			}
			if size > uint64(ratioCap(f.CompressedSize64, x.lim.MaxRatio)) { // ratioCap never goes below ratioFloor
				return entryErr(f.Name, ErrBomb, "expands to %s from %s, more than %dx: refused as a zip bomb",
					formatSize(clamp(size)), formatSize(clamp(f.CompressedSize64)), x.lim.MaxRatio)
			}
		}
		x.entries = append(x.entries, e)
	}

	// Parents are checked once every entry is known, because a hostile
	// archive may list "link/x" before the symlink "link" itself.
	links := make(map[string]string)
	for _, e := range x.entries {
		for p := path.Dir(e.name); p != "."; p = path.Dir(p) {
			switch k, ok := kinds[p]; {
			case ok && k == kindFile:
				return entryErr(e.f.Name, ErrUnsafePath, "its parent %q is a file in the archive", p)
			case ok && k == kindLink:
				// The simplest rule that closes "link -> /etc, then link/passwd":
				// nothing is ever written below a symlink from the archive.
				return entryErr(e.f.Name, ErrUnsafeLink, "its parent %q is a symlink in the archive; writing through symlinks is refused", p)
			}
		}
		if e.kind == kindLink {
			links[e.name] = ""
		}
	}
	for i := range x.entries {
		e := &x.entries[i]
		if e.kind != kindLink {
			continue
		}
		target, err := x.readTarget(e.f)
		if err != nil {
			return err
		}
		e.target = target
		links[e.name] = target
	}
	for _, e := range x.entries {
		if e.kind == kindLink {
			if why := resolve(e.name, links); why != "" {
				return entryErr(e.f.Name, ErrUnsafeLink, "symlink to %q %s", e.target, why)
			}
		}
	}
	return nil
}

// classify checks one entry on its own: name, type and flags.
func classify(f *zip.File) (entry, error) {
	name, why := cleanName(f.Name)
	if why != "" {
		return entry{}, entryErr(f.Name, ErrUnsafePath, "%s", why)
	}
	e := entry{f: f, name: name}
	mode := f.Mode()
	switch t := mode.Type(); t {
	case 0:
		e.kind = kindFile
		// MS-DOS archives mark directories only with the trailing slash.
		if strings.HasSuffix(f.Name, "/") {
			e.kind = kindDir
		}
	case fs.ModeDir:
		e.kind = kindDir
	case fs.ModeSymlink:
		e.kind = kindLink
		if strings.HasSuffix(f.Name, "/") {
			return entry{}, entryErr(f.Name, ErrUnsafeLink, "symlink name ends with a slash")
		}
	default:
		return entry{}, entryErr(f.Name, ErrSpecialFile, "is a %s (mode %v); only regular files, directories and symlinks are allowed", typeName(t), mode)
	}
	if name == "." && e.kind != kindDir {
		return entry{}, entryErr(f.Name, ErrUnsafePath, "names the extraction root itself")
	}
	if f.Flags&0x1 != 0 {
		return entry{}, entryErr(f.Name, ErrNotZip, "is encrypted, which is not supported; upload an unencrypted archive")
	}
	e.exec = mode.Perm()&0o111 != 0
	return e, nil
}

func typeName(t fs.FileMode) string {
	switch {
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "device file"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	default:
		return "non-regular file"
	}
}

// cleanName turns an entry name into a cleaned, slash-separated path inside
// the root, or says why it cannot be one. "." stands for the root itself.
func cleanName(raw string) (string, string) {
	switch {
	case raw == "":
		return "", "empty name"
	case len(raw) > maxNameLen:
		return "", fmt.Sprintf("name is longer than %d bytes", maxNameLen)
	case strings.ContainsRune(raw, 0):
		return "", "name contains a NUL byte"
	case strings.Contains(raw, `\`):
		// A backslash is a separator on Windows and an ordinary byte here;
		// either reading of such a name would surprise someone.
		return "", `name contains a backslash; re-create the archive with "/" as the separator`
	case raw[0] == '/' || hasDrive(raw):
		return "", "absolute path; entries must be relative to the archive root"
	}
	name := path.Clean(raw)
	if name == ".." || strings.HasPrefix(name, "../") {
		return "", `path escapes the archive root with ".."`
	}
	if name != "." && !filepath.IsLocal(filepath.FromSlash(name)) {
		// Belt and braces, and Windows reserved names (NUL, COM1) there.
		return "", "not a local path"
	}
	return name, ""
}

// hasDrive reports a Windows drive prefix such as "C:".
func hasDrive(p string) bool {
	return len(p) >= 2 && p[1] == ':' && ('a' <= p[0]|0x20 && p[0]|0x20 <= 'z')
}

// readTarget reads and syntax-checks a symlink entry's target.
func (x *extraction) readTarget(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", corrupt(f, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxTarget+1))
	if err != nil {
		return "", corrupt(f, err)
	}
	if x.total += int64(len(b)); x.total > x.lim.MaxTotal {
		return "", x.totalBomb(f.Name)
	}
	target := string(b)
	switch {
	case len(b) > maxTarget:
		return "", entryErr(f.Name, ErrUnsafeLink, "symlink target is longer than %d bytes", maxTarget)
	case target == "":
		return "", entryErr(f.Name, ErrUnsafeLink, "symlink has an empty target")
	case strings.ContainsRune(target, 0):
		return "", entryErr(f.Name, ErrUnsafeLink, "symlink target contains a NUL byte")
	case strings.Contains(target, `\`):
		return "", entryErr(f.Name, ErrUnsafeLink, "symlink target %q contains a backslash", target)
	case target[0] == '/' || hasDrive(target):
		return "", entryErr(f.Name, ErrUnsafeLink, "symlink target %q is absolute; only relative links inside the archive are allowed", target)
	}
	return target, nil
}

// resolve follows the symlink at name the way the kernel would, substituting
// the archive's other symlinks, and says why it is unsafe, or returns "".
// Lexical cleaning alone is not enough: with "x/up -> ..", the link
// "x/up2 -> up/.." cleans to "x" but really resolves to the root's parent.
// The extraction directory is brand new, so the archive's links are the only
// ones that can exist below the root.
func resolve(name string, links map[string]string) string {
	var cur []string // resolved components, from the root
	if dir := path.Dir(name); dir != "." {
		cur = strings.Split(dir, "/")
	}
	todo := strings.Split(links[name], "/")
	for hops, steps := 0, 0; len(todo) > 0; steps++ {
		if steps > maxSteps {
			return "takes too many steps to resolve"
		}
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "escapes the archive root"
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, c)
		target, ok := links[strings.Join(cur, "/")]
		if !ok {
			continue
		}
		if hops++; hops > maxHops {
			return "has too many levels of symlinks (a loop?)"
		}
		// A relative target is resolved from the link's own directory.
		cur = cur[:len(cur)-1]
		todo = append(strings.Split(target, "/"), todo...)
	}
	return ""
}

// write creates the planned tree below root. Symlinks come last, so while
// any file is being written there is no symlink in the tree to be followed;
// the plan's parent check already refuses such entries with a clear message,
// this makes it impossible rather than merely checked.
func (x *extraction) write(root *os.Root) error {
	// All directories, implicit parents included, are set to 0755 at the
	// end: MkdirAll honours the umask, and the brief is 0755 regardless.
	dirs := make(map[string]bool)
	mkdirs := func(e entry, dir string) error {
		if dir == "." || dirs[dir] {
			return nil
		}
		if err := root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return &EntryError{Name: e.f.Name, Reason: "create directory: " + err.Error(), Err: err}
		}
		for p := dir; p != "." && !dirs[p]; p = path.Dir(p) {
			dirs[p] = true
		}
		return nil
	}
	for _, e := range x.entries {
		var err error
		switch e.kind {
		case kindDir:
			err = mkdirs(e, e.name)
		case kindFile:
			if err = mkdirs(e, path.Dir(e.name)); err == nil {
				err = x.writeFile(root, e)
			}
		}
		if err != nil {
			return err
		}
	}
	for _, e := range x.entries {
		if e.kind != kindLink {
			continue
		}
		if err := mkdirs(e, path.Dir(e.name)); err != nil {
			return err
		}
		if err := root.Symlink(e.target, filepath.FromSlash(e.name)); err != nil {
			return &EntryError{Name: e.f.Name, Reason: "create symlink: " + err.Error(), Err: err}
		}
	}
	for d := range dirs {
		if err := root.Chmod(filepath.FromSlash(d), 0o755); err != nil {
			return fmt.Errorf("unzip: %w", err)
		}
	}
	return nil
}

// writeFile streams one file entry to disk, counting the bytes actually
// decompressed: the sizes in the headers were only checked as a hint.
func (x *extraction) writeFile(root *os.Root, e entry) (err error) {
	rc, err := e.f.Open()
	if err != nil {
		return corrupt(e.f, err)
	}
	defer rc.Close()
	// O_EXCL: the plan rules out duplicates, so an existing file here would
	// mean a bug; fail rather than overwrite.
	out, err := root.OpenFile(filepath.FromSlash(e.name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return &EntryError{Name: e.f.Name, Reason: "create file: " + err.Error(), Err: err}
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = &EntryError{Name: e.f.Name, Reason: "write file: " + cerr.Error(), Err: cerr}
		}
	}()

	remaining := x.lim.MaxTotal - x.total
	limit := min(remaining, ratioCap(e.f.CompressedSize64, x.lim.MaxRatio))
	// Reading one byte past the limit tells us it was crossed, and stops the
	// decompressor right there instead of after the whole bomb.
	src := &readErr{r: io.LimitReader(rc, limit+min(1, math.MaxInt64-limit))}
	n, err := io.Copy(out, src)
	x.total += n
	switch {
	case src.err != nil:
		return corrupt(e.f, src.err)
	case err != nil:
		return &EntryError{Name: e.f.Name, Reason: "write file: " + err.Error(), Err: err}
	case n > remaining:
		return x.totalBomb(e.f.Name)
	case n > limit:
		return entryErr(e.f.Name, ErrBomb, "expands past %s from %s, more than %dx: refused as a zip bomb",
			formatSize(limit), formatSize(clamp(e.f.CompressedSize64)), x.lim.MaxRatio)
	}
	// Only the executable bit survives: setuid, setgid and sticky bits from
	// an upload have no business on a node. Chmod on the open file is exact,
	// where the create mode would be filtered by the umask.
	mode := os.FileMode(0o644)
	if e.exec {
		mode = 0o755
	}
	if err := out.Chmod(mode); err != nil {
		return &EntryError{Name: e.f.Name, Reason: "chmod: " + err.Error(), Err: err}
	}
	return nil
}

func (x *extraction) totalBomb(name string) error {
	return entryErr(name, ErrBomb, "archive expands past %s: refused as a zip bomb", formatSize(x.lim.MaxTotal))
}

// ratioCap is how many bytes an entry of the given compressed size may expand
// to before it counts as a bomb: never less than ratioFloor, saturating
// instead of overflowing.
func ratioCap(compressed uint64, ratio int) int64 {
	if compressed > uint64(math.MaxInt64/int64(ratio)) {
		return math.MaxInt64
	}
	return max(int64(compressed)*int64(ratio), ratioFloor)
}

// clamp converts a size from a header, which may be anything, for messages.
func clamp(u uint64) int64 { return int64(min(u, math.MaxInt64)) }

// corrupt reports an entry whose data cannot be read back.
func corrupt(f *zip.File, err error) error {
	if errors.Is(err, zip.ErrAlgorithm) {
		return entryErr(f.Name, ErrNotZip, "unsupported compression method %d; use deflate or store", f.Method)
	}
	return entryErr(f.Name, ErrNotZip, "corrupt data (%v); re-create the archive", err)
}

// readErr remembers read errors so they are not mistaken for write errors:
// io.Copy returns both the same way.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}
