package store_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

func TestDedupKey(t *testing.T) {
	for _, tc := range []struct {
		item string
		keys []string
		want string // "": no key
	}{
		{`{"url":"a"}`, []string{"url"}, `["a"]`},
		{`{"url":"a","page":2}`, []string{"url", "page"}, `["a",2]`},
		{`{"page":2,"url":"a"}`, []string{"url", "page"}, `["a",2]`},
		{`{"url":"a"}`, []string{"url", "page"}, `["a",null]`},
		{`{"page":2}`, []string{"url", "page"}, `[null,2]`},
		{`{"url":null}`, []string{"url"}, `[null]`}, // present, as null
		{`{"other":1}`, []string{"url"}, ""},        // none present: always new
		{`{"url":"a"}`, nil, ""},
		{`{ "url" : "\u0061" }`, []string{"url"}, `["a"]`}, // escapes and spaces
		{`{"url":"<a&b>"}`, []string{"url"}, `["<a&b>"]`},
		{`{"url":"é\u00e9"}`, []string{"url"}, `["éé"]`},
		{`{"url":"a\nb"}`, []string{"url"}, `["a\nb"]`},
		{`{"url":"a\u2028"}`, []string{"url"}, `["a\u2028"]`},
		{`{"id":{"b":1, "a":[1, "x"]}}`, []string{"id"}, `[{"a":[1,"x"],"b":1}]`}, // nested: keys sorted
		{`{"id":1.50}`, []string{"id"}, `[1.50]`},                                 // numbers keep their text
		{`{"id":12345678901234567890123}`, []string{"id"}, `[12345678901234567890123]`},
		{`{"id":true,"x":false}`, []string{"x", "id"}, `[false,true]`},
		{`{"u\u0072l":"a"}`, []string{"url"}, `["a"]`}, // an escaped key
		{`[1]`, []string{"url"}, ""},
		{`{"url":`, []string{"url"}, ""},
	} {
		got, ok := store.DedupKey(json.RawMessage(tc.item), tc.keys)
		if ok != (tc.want != "") || got != tc.want {
			t.Errorf("DedupKey(%s, %q) = %q, %v; want %q", tc.item, tc.keys, got, ok, tc.want)
		}
	}
}

func TestPrepareItems(t *testing.T) {
	d := store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore}
	keys, err := store.PrepareItems(5, []json.RawMessage{
		json.RawMessage(`{"url":"a"}`), json.RawMessage(` {"x":1} `), json.RawMessage(`{}`),
		json.RawMessage(`{"url_":1,"_x":{"_id":1}}`), // reserved only at the top, and only exactly
	}, d)
	if err != nil || !slices.Equal(keys, []string{`["a"]`, "", "", ""}) {
		t.Errorf("PrepareItems = %q, %v", keys, err)
	}
	keys, err = store.PrepareItems(0, []json.RawMessage{json.RawMessage(`{"url":"a"}`)}, store.Dedup{Keys: []string{"url"}})
	if err != nil || keys[0] != "" {
		t.Errorf("PrepareItems without a policy = %q, %v; want no key", keys, err)
	}
	for _, tc := range []struct {
		item, want string
	}{
		{`[]`, "item 7: not a JSON object"},
		{`"x"`, "item 7: not a JSON object"},
		{`null`, "item 7: not a JSON object"},
		{`{"a":1} {"b":2}`, "item 7: not a JSON object"},
		{`{"a":1,}`, "item 7: not a JSON object"},
		{``, "item 7: not a JSON object"},
		{`{"_n":1}`, `item 7: it has the key "_n", which is reserved`},
		{`{"a":1,"_id":"x"}`, `item 7: it has the key "_id", which is reserved`},
		{`{"_saved":1}`, `item 7: it has the key "_saved", which is reserved`},
		{`{"a":"` + strings.Repeat("x", store.MaxItemBytes) + `"}`, "item 7 is 1048584 bytes, more than the 1048576"},
	} {
		_, err := store.PrepareItems(6, []json.RawMessage{json.RawMessage(`{}`), json.RawMessage(tc.item)}, d)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PrepareItems(%.40s): %v, want %q", tc.item, err, tc.want)
		}
	}
	if _, err := store.PrepareItems(-1, nil, d); err == nil {
		t.Error("PrepareItems from -1 succeeded")
	}
	if _, err := store.PrepareItems(0, nil, store.Dedup{Keys: []string{"url"}, Policy: "newest"}); err == nil {
		t.Error("PrepareItems with an unknown policy succeeded")
	}
}

func TestDedupItems(t *testing.T) {
	keys := []string{"a", "", "b", "a", "c", "a", "b"}
	current := map[string]bool{"b": true, "z": true}
	outcomes, cur, replaced := store.DedupItems(store.DedupIgnore, keys, current)
	want := []string{"new", "new", "ignored", "ignored", "new", "ignored", "ignored"}
	if !slices.Equal(outcomes, want) || !slices.Equal(cur, []bool{true, true, false, false, true, false, false}) || replaced != nil {
		t.Errorf("ignore: %q %v %q", outcomes, cur, replaced)
	}
	outcomes, cur, replaced = store.DedupItems(store.DedupOverwrite, keys, current)
	want = []string{"new", "new", "overwritten", "overwritten", "new", "overwritten", "overwritten"}
	if !slices.Equal(outcomes, want) || !slices.Equal(cur, []bool{false, true, false, false, true, true, true}) ||
		!slices.Equal(replaced, []string{"b"}) {
		t.Errorf("overwrite: %q %v %q", outcomes, cur, replaced)
	}
}

// FuzzDedupKey checks the scanner PrepareItems and DedupKey use against
// encoding/json: an object it accepts is one json.Unmarshal accepts, and
// the key is what re-encoding the values would give.
func FuzzDedupKey(f *testing.F) {
	for _, s := range []string{`{"url":"a"}`, `{"url":{"b":[1,{"c":"\""}]},"x":" } "}`, `{ "url" : 1e5 , "y":[]}`,
		`{"a":"\\","url":"\ud83d\ude00"}`, `[]`, `{"url":"a"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, item string) {
		got, ok := store.DedupKey(json.RawMessage(item), []string{"url"})
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(item), &m) != nil || m == nil {
			if ok {
				t.Fatalf("DedupKey(%q) = %q for something not an object", item, got)
			}
			return
		}
		v, has := m["url"]
		if !has {
			if ok {
				t.Fatalf("DedupKey(%q) = %q without the key", item, got)
			}
			return
		}
		var x, y any
		if err := json.Unmarshal(v, &x); err != nil {
			t.Fatal(err)
		}
		if !ok || json.Unmarshal([]byte(got), &y) != nil || !reflect.DeepEqual([]any{x}, y) {
			t.Fatalf("DedupKey(%q) = %q, %v; want the value %s", item, got, ok, v)
		}
	})
}
