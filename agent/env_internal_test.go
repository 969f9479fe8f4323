package agent

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/sdk"
)

// The SDK is extracted once per version: a copy of another version, and
// one left half-written, are removed; the current one is kept as it is.
func TestExtractSDK(t *testing.T) {
	data := t.TempDir()
	for _, stale := range []string{"sdk-0123456789abcdef", ".sdk-12345"} {
		os.MkdirAll(filepath.Join(data, stale, "python"), 0o755)
	}
	os.WriteFile(filepath.Join(data, "node_id"), []byte("x\n"), 0o644)
	dir, err := extractSDK(data)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := fs.ReadFile(sdk.FS, "python/crawlhub/__init__.py")
	if got, err := os.ReadFile(filepath.Join(dir, "python", "crawlhub", "__init__.py")); err != nil || string(got) != string(want) {
		t.Errorf("python/crawlhub/__init__.py: %q, %v", got, err)
	}
	want, _ = fs.ReadFile(sdk.FS, "node/package.json")
	if got, err := os.ReadFile(filepath.Join(dir, "node", "crawlhub", "package.json")); err != nil || string(got) != string(want) {
		t.Errorf("node/crawlhub/package.json: %q, %v", got, err)
	}
	entries, _ := os.ReadDir(data)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"node_id", filepath.Base(dir)}) {
		t.Errorf("data directory holds %v, want node_id and %s only", names, filepath.Base(dir))
	}
	// The same version again: the copy is reused, not rewritten.
	mark := filepath.Join(dir, "mark")
	os.WriteFile(mark, nil, 0o644)
	if again, err := extractSDK(data); err != nil || again != dir {
		t.Fatalf("second extraction: %s, %v; want %s", again, err, dir)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Errorf("the current copy was rewritten: %v", err)
	}
}

func TestPrependPath(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "PYTHONPATH=/sdk"},
		{[]string{"PYTHONPATH="}, "PYTHONPATH=/sdk"},
		{[]string{"PYTHONPATH=/os", "HOME=/h", "PYTHONPATH=/spider:/more"}, "PYTHONPATH=/sdk:/spider:/more"},
	} {
		got := prependPath(tc.env, "PYTHONPATH", "/sdk")
		if got[len(got)-1] != tc.want || len(got) != len(tc.env)+1 {
			t.Errorf("prependPath(%q) = %q, want %q last", tc.env, got, tc.want)
		}
	}
}

// A body over the bound is refused whole with 413 and advice, without
// reading all of it.
func TestItemsBodyTooLarge(t *testing.T) {
	a := &Agent{items: map[string]*taskItems{"t1": {secret: "s"}}}
	body := io.LimitReader(repeat('x'), maxItemsBody+1)
	req := httptest.NewRequest(http.MethodPost, "/tasks/t1/items?secret=s", body)
	req.SetPathValue("id", "t1")
	rec := httptest.NewRecorder()
	a.handleItems(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "send the items in smaller batches") {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

type repeat byte

func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}
