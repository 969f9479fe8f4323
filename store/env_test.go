package store_test

import (
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

func TestCheckEnv(t *testing.T) {
	for _, ok := range []map[string]string{
		nil,
		{"PATH": "/usr/bin", "_x": "", "http_proxy": "http://p:3128", "A1_B2": "v=w"},
	} {
		if err := store.CheckEnv(ok); err != nil {
			t.Errorf("CheckEnv(%v) = %v, want nil", ok, err)
		}
	}
	for env, want := range map[string]string{
		"":                       "1 to 256",
		"1ABC":                   "not starting with a digit",
		"A-B":                    "letters, digits and _",
		"A B":                    "letters, digits and _",
		"A=B":                    "letters, digits and _",
		"CRAWLHUB_TASK_ID":       "CRAWLHUB_",
		"crawlhub_token":         "CRAWLHUB_",
		"LD_PRELOAD":             "dynamic loader",
		"ld_library_path":        "dynamic loader",
		"DYLD_INSERT_LIBRARIES":  "dynamic loader",
		strings.Repeat("A", 257): "1 to 256",
	} {
		err := store.CheckEnv(map[string]string{env: "x"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckEnv(%q) = %v, want an error saying %q", env, err, want)
		}
	}
	if err := store.CheckEnv(map[string]string{"OK": "a\x00b"}); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("a NUL in a value: %v", err)
	}
}
