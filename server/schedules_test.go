package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// withSchedule stores a spider and a schedule of it, made through the API,
// that will not fire during a test (once a year).
func withSchedule(e *env) {
	withSpider(e)
	var v struct{ ID string }
	e.do("POST", "/api/schedules", map[string]any{"name": "yearly", "spider": "hello", "cron": "0 0 1 1 *"}, &v)
	e.vars["schedule"] = v.ID
}

func TestScheduleREST(t *testing.T) {
	noAuth := map[string]string{"Authorization": ""}
	for _, sc := range []scenario{
		{name: "create", setup: withSpider, subscribe: []string{"schedules"}, method: "POST", path: "/api/schedules",
			body:       `{"spider":"hello","cron":"*/5 * * * *","timezone":"Europe/Berlin"}`,
			wantStatus: 201,
			want: []string{`"name":"hello */5 * * * *"`, `"spider_id":"{spider}"`, `"timezone":"Europe/Berlin"`, `"overlap":"skip"`,
				`"misfire":"skip"`, `"enabled":true`, `"mode":"any"`, `"next_fire":`, `"next_fires":[`},
			events: []event{{"schedules", []string{`"event":"created"`, `"schedule_id":"{id}"`, `"cron":"*/5 * * * *"`}}}},
		{name: "create with seconds and a descriptor", setup: withSpider, method: "POST", path: "/api/schedules",
			body: `{"spider_id":"{spider}","cron":"@every 90s","name":"often","overlap":"allow","misfire":"once","enabled":false}`, wantStatus: 201,
			want: []string{`"name":"often"`, `"overlap":"allow"`, `"misfire":"once"`, `"enabled":false`}, notWant: []string{`"next_fire":`}},
		{name: "create, bad cron", setup: withSpider, method: "POST", path: "/api/schedules", body: `{"spider":"hello","cron":"61 * * * *"}`,
			wantStatus: 400, want: []string{`"code":"bad_request"`, `cron \"61 * * * *\"`}},
		{name: "create, bad timezone", setup: withSpider, method: "POST", path: "/api/schedules",
			body: `{"spider":"hello","cron":"@daily","timezone":"Mars/Olympus"}`, wantStatus: 400,
			want: []string{`timezone \"Mars/Olympus\" is not an IANA timezone`}},
		{name: "create, no cron", setup: withSpider, method: "POST", path: "/api/schedules", body: `{"spider":"hello"}`,
			wantStatus: 400, want: []string{"say when to run: cron"}},
		{name: "create, unknown spider", method: "POST", path: "/api/schedules", body: `{"spider":"nobody","cron":"@daily"}`,
			wantStatus: 404, want: []string{"no such spider: nobody"}},
		{name: "create, bad overlap", setup: withSpider, method: "POST", path: "/api/schedules",
			body: `{"spider":"hello","cron":"@daily","overlap":"pile"}`, wantStatus: 400, want: []string{`overlap must be \"skip\"`}},
		{name: "create, nodes without node_ids", setup: withSpider, method: "POST", path: "/api/schedules",
			body: `{"spider":"hello","cron":"@daily","mode":"nodes"}`, wantStatus: 400, want: []string{`mode \"nodes\" needs node_ids`}},
		{name: "create, misspelt field", setup: withSpider, method: "POST", path: "/api/schedules",
			body: `{"spider":"hello","crom":"@daily"}`, wantStatus: 400, want: []string{`unknown field \"crom\"`}},
		{name: "create, taken name", setup: withSchedule, method: "POST", path: "/api/schedules",
			body: `{"spider":"hello","cron":"@daily","name":"yearly"}`, wantStatus: 409, want: []string{"a schedule named yearly exists"}},
		{name: "create without token", method: "POST", path: "/api/schedules", body: `{}`, headers: noAuth, wantStatus: 401},

		{name: "list", setup: withSchedule, method: "GET", path: "/api/schedules", wantStatus: 200,
			want: []string{`"total":1`, `"id":"{schedule}"`, `"name":"yearly"`}, notWant: []string{`"next_fires"`}},
		{name: "get: the next five fire times", setup: withSchedule, method: "GET", path: "/api/schedules/{schedule}", wantStatus: 200,
			check: func(e *env, body string) {
				var v struct {
					NextFires []time.Time `json:"next_fires"`
				}
				json.Unmarshal([]byte(body), &v)
				if len(v.NextFires) != 5 {
					e.t.Fatalf("next_fires %v, want 5", v.NextFires)
				}
				for i, f := range v.NextFires {
					if f.Month() != time.January || f.Day() != 1 || f.Hour() != 0 || (i > 0 && f.Year() != v.NextFires[i-1].Year()+1) {
						e.t.Fatalf("next_fires %v, want 1 January of five years", v.NextFires)
					}
				}
			}},
		{name: "get, unknown", method: "GET", path: "/api/schedules/" + unknownID, wantStatus: 404, want: []string{"no schedule has id " + unknownID}},
		{name: "get, bad id", method: "GET", path: "/api/schedules/nope", wantStatus: 400, want: []string{"schedule id nope is not valid"}},

		{name: "update: disable", setup: withSchedule, subscribe: []string{"schedules"}, method: "PUT", path: "/api/schedules/{schedule}",
			body: `{"enabled":false}`, wantStatus: 200, want: []string{`"enabled":false`, `"cron":"0 0 1 1 *"`, `"name":"yearly"`},
			events: []event{{"schedules", []string{`"event":"updated"`, `"schedule_id":"{schedule}"`, `"enabled":false`}}}},
		{name: "update, bad cron", setup: withSchedule, method: "PUT", path: "/api/schedules/{schedule}", body: `{"cron":"every day"}`,
			wantStatus: 400, want: []string{`cron \"every day\"`}},
		{name: "update, unknown", method: "PUT", path: "/api/schedules/" + unknownID, body: `{"enabled":false}`, wantStatus: 404},

		{name: "delete", setup: withSchedule, subscribe: []string{"schedules"}, method: "DELETE", path: "/api/schedules/{schedule}",
			wantStatus: 204, events: []event{{"schedules", []string{`"event":"deleted"`, `"schedule_id":"{schedule}"`}}},
			check: func(e *env, _ string) {
				if status, _, _ := e.request("GET", "/api/schedules/"+e.vars["schedule"], "", nil, nil); status != 404 {
					e.t.Fatalf("deleted schedule: GET gave %d", status)
				}
			}},
		{name: "delete, unknown", method: "DELETE", path: "/api/schedules/" + unknownID, wantStatus: 404},

		{name: "run now", setup: withSchedule, subscribe: []string{"schedules", "tasks"}, method: "POST", path: "/api/schedules/{schedule}/run",
			wantStatus: 201, want: []string{`"total":1`, `"schedule_id":"{schedule}"`, `"spider_name":"hello"`},
			events: []event{
				{"schedules", []string{`"event":"fired"`, `"schedule_id":"{schedule}"`, `"task_ids":["{id}"]`}},
				{"tasks", []string{`"task_id":"{id}"`, `"status":"finished"`}},
			},
			check: func(e *env, _ string) {
				_, _, body := e.request("GET", "/api/tasks?schedule_id="+e.vars["schedule"], "", nil, nil)
				if !strings.Contains(body, `"total":1`) || !strings.Contains(body, e.vars["id"]) {
					e.t.Fatalf("tasks of the schedule: %s", body)
				}
				_, _, body = e.request("GET", "/api/schedules/"+e.vars["schedule"], "", nil, nil)
				if !strings.Contains(body, `"last_task_id":"`+e.vars["id"]+`"`) || !strings.Contains(body, `"last_task_status":"finished"`) {
					e.t.Fatalf("schedule after its run: %s", body)
				}
			}},
		{name: "run now, unknown", method: "POST", path: "/api/schedules/" + unknownID + "/run", wantStatus: 404},

		{name: "preview", method: "GET", path: "/api/schedules/preview?cron=0+9+*+*+MON-FRI&timezone=Asia/Tokyo", wantStatus: 200,
			want: []string{`"next_fires":["`, `T09:00:00+09:00"`}},
		{name: "preview, bad cron", method: "GET", path: "/api/schedules/preview?cron=0+25+*+*+*", wantStatus: 400,
			want: []string{`cron \"0 25 * * *\"`}},
	} {
		t.Run(sc.name, sc.run)
	}
}

// A schedule fires by itself: the tasks it makes carry its id, run, and
// the schedules channel says so.
func TestScheduleFires(t *testing.T) {
	e := newEnv(t)
	withSpider(e)
	ws := e.dial()
	ws.subscribe("schedules")
	var v struct{ ID string }
	e.do("POST", "/api/schedules", map[string]any{"spider": "hello", "cron": "@every 1s", "overlap": "allow"}, &v)
	ws.expect("schedules", `"event":"created"`)
	var ev struct {
		TaskIDs []string `json:"task_ids"`
	}
	p := ws.expect("schedules", `"event":"fired"`, `"schedule_id":"`+v.ID+`"`)
	json.Unmarshal(p, &ev)
	if len(ev.TaskIDs) != 1 {
		t.Fatalf("fired event %s", p)
	}
	e.tap.wait(func(env *wire.Envelope) bool {
		var ts wire.TaskStatus
		return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == ev.TaskIDs[0] && ts.Status == store.TaskFinished
	})
	task, err := e.st.Tasks().Get(e.ctx, ev.TaskIDs[0])
	if err != nil || task.ScheduleID != v.ID {
		t.Fatalf("task %+v, %v: want one of schedule %s", task, err, v.ID)
	}
}

// With overlap "queue" a schedule's tasks wait for one another: a spider
// slower than its schedule runs one task at a time, none skipped.
func TestScheduleOverlapQueue(t *testing.T) {
	e := newEnv(t)
	e.spider("slow", "sleep 1.2\necho done\n")
	var v struct{ ID string }
	e.do("POST", "/api/schedules", map[string]any{"spider": "slow", "cron": "@every 1s", "overlap": "queue"}, &v)
	finished := map[string]bool{}
	for len(finished) < 2 {
		env := e.tap.wait(func(env *wire.Envelope) bool {
			var ts wire.TaskStatus
			return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.Status == store.TaskFinished && !finished[ts.TaskID]
		})
		var ts wire.TaskStatus
		json.Unmarshal(env.Payload, &ts)
		finished[ts.TaskID] = true
	}
	e.do("PUT", "/api/schedules/"+v.ID, map[string]any{"enabled": false}, nil)
	tasks, _, err := e.st.Tasks().List(e.ctx, store.TaskFilter{ScheduleID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	var ran []store.Task
	waited := 0
	for _, task := range tasks {
		if !task.Started.IsZero() {
			ran = append(ran, task)
		}
		if task.WaitFor != "" {
			waited++
		}
	}
	if waited == 0 {
		t.Fatalf("no task waited for another: %+v", tasks)
	}
	for i, a := range ran {
		for _, b := range ran[i+1:] {
			aEnd, bEnd := a.Finished, b.Finished
			if aEnd.IsZero() {
				aEnd = time.Now()
			}
			if bEnd.IsZero() {
				bEnd = time.Now()
			}
			if a.Started.Before(bEnd) && b.Started.Before(aEnd) {
				t.Fatalf("tasks %s (%s–%s) and %s (%s–%s) ran at once", a.ID, a.Started, a.Finished, b.ID, b.Started, b.Finished)
			}
		}
	}
}

func TestScheduleJSONRPC(t *testing.T) {
	for _, sc := range []scenario{
		{name: "schedules.list", setup: withSchedule, rpc: "schedules.list", params: `{}`, want: []string{`"total":1`, `"name":"yearly"`}},
		{name: "schedules.list, params", rpc: "schedules.list", params: `{"all":true}`, wantRPCError: -32602, want: []string{`unknown field \"all\"`}},
		{name: "schedule.get", setup: withSchedule, rpc: "schedule.get", params: `{"id":"{schedule}"}`,
			want: []string{`"id":"{schedule}"`, `"next_fires":[`}},
		{name: "schedule.get, unknown", rpc: "schedule.get", params: `{"id":"` + unknownID + `"}`, wantRPCError: -32001,
			want: []string{"no schedule has id"}},
		{name: "schedule.create", setup: withSpider, subscribe: []string{"schedules"}, rpc: "schedule.create",
			params: `{"spider":"hello","cron":"0 6 * * *","timezone":"America/New_York","name":"morning"}`,
			want:   []string{`"name":"morning"`, `"timezone":"America/New_York"`, `T06:00:00-0`},
			events: []event{{"schedules", []string{`"event":"created"`, `"name":"morning"`}}}},
		{name: "schedule.create, bad cron", setup: withSpider, rpc: "schedule.create", params: `{"spider":"hello","cron":"@sometimes"}`,
			wantRPCError: -32602, want: []string{`cron \"@sometimes\"`}},
		{name: "schedule.update", setup: withSchedule, subscribe: []string{"schedules"}, rpc: "schedule.update",
			params: `{"id":"{schedule}","cron":"@hourly","overlap":"queue"}`, want: []string{`"cron":"@hourly"`, `"overlap":"queue"`, `"name":"yearly"`},
			events: []event{{"schedules", []string{`"event":"updated"`, `"cron":"@hourly"`}}}},
		{name: "schedule.update, unknown", rpc: "schedule.update", params: `{"id":"` + unknownID + `","enabled":false}`, wantRPCError: -32001},
		{name: "schedule.delete", setup: withSchedule, subscribe: []string{"schedules"}, rpc: "schedule.delete", params: `{"id":"{schedule}"}`,
			events: []event{{"schedules", []string{`"event":"deleted"`, `"schedule_id":"{schedule}"`}}}},
		{name: "schedule.delete, bad id", rpc: "schedule.delete", params: `{"id":"x"}`, wantRPCError: -32602, want: []string{"schedule id x is not valid"}},
		{name: "schedule.run", setup: withSchedule, subscribe: []string{"schedules"}, rpc: "schedule.run", params: `{"id":"{schedule}"}`,
			want: []string{`"schedule_id":"{schedule}"`, `"status":"pending"`}, events: []event{{"schedules", []string{`"event":"fired"`}}}},
		{name: "schedule.run, unknown", rpc: "schedule.run", params: `{"id":"` + unknownID + `"}`, wantRPCError: -32001},
		{name: "schedule.preview", rpc: "schedule.preview", params: `{"cron":"*/10 * * * * *"}`, want: []string{`"next_fires":["`}},
		{name: "schedule.preview, bad timezone", rpc: "schedule.preview", params: `{"cron":"@daily","timezone":"Moon"}`,
			wantRPCError: -32602, want: []string{`timezone \"Moon\"`}},
		{name: "subscribe to schedules", rpc: "subscribe", params: `{"channel":"schedules"}`, want: []string{`"channel":"schedules"`}},
	} {
		t.Run(sc.name, sc.run)
	}
}
