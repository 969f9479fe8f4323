package wsapi_test

import (
	"encoding/json"
	"testing"

	"github.com/crawlhub/crawlhub/wsapi"
)

func TestLogChannel(t *testing.T) {
	const id = "0123456789abcdef01234567"
	ch := wsapi.LogChannel(id)
	if ch != "task:"+id+":log" {
		t.Fatalf("LogChannel = %q", ch)
	}
	if got, ok := wsapi.TaskOfLogChannel(ch); !ok || got != id {
		t.Fatalf("TaskOfLogChannel(%q) = %q, %v", ch, got, ok)
	}
	for _, bad := range []string{"task::log", "tasks", "task:x", "x:log", "nodes", ""} {
		if id, ok := wsapi.TaskOfLogChannel(bad); ok {
			t.Errorf("TaskOfLogChannel(%q) = %q, true; want not a log channel", bad, id)
		}
	}
}

// A log publication's data is {"from", "lines"} or, at the end, {"end",
// "status", "total"}: scripts written against docs/websocket-api.md read
// exactly these.
func TestLogDataJSON(t *testing.T) {
	for _, tc := range []struct {
		d    wsapi.LogData
		want string
	}{
		{wsapi.LogData{From: 3, Lines: []string{"a", "<b>"}}, `{"from":3,"lines":["a","\u003cb\u003e"]}`},
		{wsapi.LogData{From: 0, Lines: []string{}}, `{"from":0,"lines":[]}`},
		{wsapi.LogData{From: 7}, `{"from":7,"lines":null}`},
		{wsapi.LogData{End: true, Status: "finished", Total: 63, From: 9, Lines: []string{"x"}}, `{"end":true,"status":"finished","total":63}`},
	} {
		b, err := json.Marshal(wsapi.Publication[any]{Channel: "task:x:log", Data: tc.d})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"channel":"task:x:log","data":` + tc.want + `}`
		if string(b) != want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.d, b, want)
		}
		var p wsapi.Publication[json.RawMessage]
		var back wsapi.LogData
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(p.Data, &back); err != nil {
			t.Fatal(err)
		}
		if back.End != tc.d.End || (tc.d.End && (back.Status != tc.d.Status || back.Total != tc.d.Total)) ||
			(!tc.d.End && (back.From != tc.d.From || len(back.Lines) != len(tc.d.Lines))) {
			t.Errorf("%s read back as %+v", b, back)
		}
	}
}

func TestSubscribeParamsJSON(t *testing.T) {
	since := int64(5)
	for _, tc := range []struct {
		p    wsapi.SubscribeParams
		want string
	}{
		{wsapi.SubscribeParams{Channel: "tasks"}, `{"channel":"tasks"}`},
		{wsapi.SubscribeParams{Channel: "task:x:log", Since: &since}, `{"channel":"task:x:log","since":5}`},
	} {
		if b, _ := json.Marshal(tc.p); string(b) != tc.want {
			t.Errorf("got %s, want %s", b, tc.want)
		}
	}
}
