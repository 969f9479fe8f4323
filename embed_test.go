package crawlhub

import (
	"io/fs"
	"strings"
	"testing"
)

func TestDistIsRootedAtWebDist(t *testing.T) {
	d := Dist()
	if _, err := fs.Stat(d, ".placeholder"); err != nil {
		t.Fatalf("Dist() is not rooted at web/dist: %v", err)
	}
	if _, err := fs.Stat(d, "web"); err == nil {
		t.Fatal("Dist() exposes the repository layout; want it rooted at web/dist")
	}
}

func TestDistBuiltMatchesIndex(t *testing.T) {
	_, err := fs.Stat(Dist(), "index.html")
	if got, want := DistBuilt(), err == nil; got != want {
		t.Fatalf("DistBuilt() = %v, want %v (index.html stat error: %v)", got, want, err)
	}
	if !DistBuilt() {
		t.Skip("web/dist not built; run `npm run build` to check the built assets")
	}
}

// TestDistAssetsResolve checks that every hashed asset index.html refers to
// was embedded, which is what the cache-busting build promises.
func TestDistAssetsResolve(t *testing.T) {
	if !DistBuilt() {
		t.Skip("web/dist not built; run `npm run build` to check the built assets")
	}
	d := Dist()
	index, err := fs.ReadFile(d, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, attr := range []string{`src="`, `href="`} {
		for rest := string(index); ; {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			ref, _, _ := strings.Cut(rest, `"`)
			name := strings.TrimPrefix(strings.TrimPrefix(ref, "./"), "/")
			if !strings.HasPrefix(name, "assets/") {
				continue
			}
			refs++
			if _, err := fs.Stat(d, name); err != nil {
				t.Errorf("index.html refers to %q, which is not embedded: %v", ref, err)
			}
		}
	}
	if refs == 0 {
		t.Error("index.html refers to no /assets/ files; the build should emit hashed JS and CSS")
	}
}
