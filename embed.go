// Package crawlhub holds the built web dashboard, embedded into the binary.
//
// web/dist is produced by `npm run build` (web/build.mjs) and is ignored by
// git except for a placeholder file, so the package compiles before the
// dashboard has been built; DistBuilt tells the two cases apart.
package crawlhub

import (
	"embed"
	"io/fs"
)

// dist must use the "all:" prefix so the dot-file placeholder matches when
// nothing else has been built; without a match go:embed fails to compile.
//
//go:embed all:web/dist
var dist embed.FS

// Dist returns the built single-page app rooted at web/dist, so "index.html"
// names web/dist/index.html. It may hold only the placeholder; see DistBuilt.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "web/dist")
	if err != nil {
		// fs.Sub fails only on an invalid path, and "web/dist" is a constant.
		panic("crawlhub: embedded web/dist: " + err.Error())
	}
	return sub
}

// DistBuilt reports whether the embedded dashboard has been built, that is
// whether web/dist/index.html was present when the binary was compiled.
func DistBuilt() bool {
	st, err := fs.Stat(Dist(), "index.html")
	return err == nil && !st.IsDir()
}
