package server_test

import (
	"bytes"
	"mime/multipart"
	"strings"
	"testing"
)

// TestEnvKeysChecked: a spider, a run or a schedule whose env has a key
// the agent would refuse is refused with 400 and the reason, and nothing
// is made.
func TestEnvKeysChecked(t *testing.T) {
	e := newEnv(t)
	sp := e.spider("envcheck", "echo hi\n")
	for _, tc := range []struct{ method, path, body, want string }{
		{"POST", "/api/tasks", `{"spider_id":"` + sp.ID + `","env":{"LD_PRELOAD":"/x.so"}}`, "dynamic loader"},
		{"POST", "/api/tasks", `{"spider_id":"` + sp.ID + `","env":{"CRAWLHUB_ITEMS_URL":"http://evil"}}`, "CRAWLHUB_"},
		{"POST", "/api/tasks", `{"spider_id":"` + sp.ID + `","env":{"A B":"x"}}`, "letters, digits and _"},
		{"POST", "/api/schedules", `{"spider_id":"` + sp.ID + `","cron":"@every 1h","env":{"LD_LIBRARY_PATH":"/x"}}`, "dynamic loader"},
	} {
		code, _, body := e.request(tc.method, tc.path, "application/json", strings.NewReader(tc.body), nil)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %s: %d %s; want 400 saying %q", tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("name", "badenv")
	mw.WriteField("command", "sh run.sh")
	mw.WriteField("env", `{"CRAWLHUB_TOKEN":"x"}`)
	fw, _ := mw.CreateFormFile("file", "s.zip")
	fw.Write(zipOf("echo hi\n"))
	mw.Close()
	code, _, body := e.request("POST", "/api/spiders", mw.FormDataContentType(), &buf, nil)
	if code != 400 || !strings.Contains(body, "CRAWLHUB_") {
		t.Errorf("spider with env CRAWLHUB_TOKEN: %d %s; want 400", code, body)
	}
	var tasks struct{ Total int }
	e.do("GET", "/api/tasks", nil, &tasks)
	if tasks.Total != 0 {
		t.Errorf("%d tasks were made", tasks.Total)
	}
}
