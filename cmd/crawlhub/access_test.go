package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAllInOneAdmin: the all-in-one's first start makes the user admin
// with --admin-password, and the printed token acts as that admin.
func TestAllInOneAdmin(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	urlRE := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)`)
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", data, "--admin-password", "first start")
	m := p.waitLog(t, urlRE, 60*time.Second)
	base := m[1]

	var me struct {
		User struct{ Username, Role string }
		Kind string
	}
	if code, e, err := newAPI(base, m[2]).get("/api/me", &me); err != nil || code != 200 {
		t.Fatalf("me with the printed token: %d %+v %v", code, e, err)
	}
	if me.User.Username != "admin" || me.User.Role != "admin" || me.Kind != "start-token" {
		t.Fatalf("the printed token acts as %+v", me)
	}
	for pw, want := range map[string]int{"first start": 200, "guess": 401} {
		resp, err := http.Post(base+"/api/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+pw+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("sign-in with %q: %d %v, want %d", pw, resp.StatusCode, body, want)
		}
	}
	if strings.Contains(p.out.String(), "first start") {
		t.Error("the admin password is in the output")
	}
}
