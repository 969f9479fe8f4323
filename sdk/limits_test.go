package sdk_test

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/sdk"
	"github.com/crawlhub/crawlhub/store"
)

// The SDKs check items where the spider saves them, so that one bad item
// fails alone instead of making the endpoint refuse its whole batch: their
// limits must be the store's, or an item they pass is refused later (or
// one the store would take is refused at once).
func TestSDKLimitsAreTheStores(t *testing.T) {
	want := `"` + strings.Join(store.ReservedItemKeys, `", "`) + `"`
	for _, tc := range []struct {
		file      string
		keys, max *regexp.Regexp
	}{
		{"python/crawlhub/_items.py",
			regexp.MustCompile(`(?m)^RESERVED_KEYS = \((.*)\)$`),
			regexp.MustCompile(`(?m)^MAX_ITEM_BYTES = 1 << (\d+)$`)},
		{"node/items.js",
			regexp.MustCompile(`(?m)^const RESERVED_KEYS = Object\.freeze\(\[(.*)\]\);$`),
			regexp.MustCompile(`(?m)^const MAX_ITEM_BYTES = 1 << (\d+);$`)},
	} {
		b, err := fs.ReadFile(sdk.FS, tc.file)
		if err != nil {
			t.Fatal(err)
		}
		m := tc.keys.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no RESERVED_KEYS line", tc.file)
		}
		if got := strings.ReplaceAll(string(m[1]), `'`, `"`); got != want {
			t.Errorf("sdk/%s: RESERVED_KEYS are %s, the store's (store.ReservedItemKeys) %s: make them the same", tc.file, got, want)
		}
		m = tc.max.FindSubmatch(b)
		if m == nil {
			t.Fatalf("%s: no MAX_ITEM_BYTES line", tc.file)
		}
		if shift, _ := strconv.Atoi(string(m[1])); 1<<shift != store.MaxItemBytes {
			t.Errorf("sdk/%s: MAX_ITEM_BYTES is 1 << %d, the store's (store.MaxItemBytes) %d: make them the same", tc.file, shift, store.MaxItemBytes)
		}
	}
}
