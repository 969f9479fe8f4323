package loglevel

import (
	"reflect"
	"strings"
	"testing"
)

func TestLineLevels(t *testing.T) {
	cases := []struct {
		line string
		want Level
	}{
		{"2026-12-03 22:42:07 [scrapy.core.scraper] ERROR: Spider error processing <GET https://example.com/p/1>", Error},
		{"2026-12-03 22:42:07 [scrapy.spidermiddlewares.httperror] INFO: Ignoring response <404 https://example.com/error>: HTTP status code is not handled or not allowed", None},
		{"2026-12-03 22:42:07 [scrapy.downloadermiddlewares.retry] WARNING: Retrying <GET https://example.com/> (failed 1 times)", Warning},
		{"ERROR:root:could not connect", Error},
		{"WARNING:root:slow response", Warning},
		{"CRITICAL:root:disk full", Error},
		{"2026-12-03T22:42:07.123Z ERROR worker: failed", Error},
		{"2026/12/03 22:42:07 [WARN] retrying", Warning},
		{"[2026-12-03 22:42:07,001] {task.py:12} FATAL - gone", Error},
		{"E: ERROR", Error},
		{"INFO: got ERROR 500 from the server", None},
		{"GET https://example.com/error/page 200", None},
		{"GET https://example.com/ERROR/page 200", None},
		{"the error rate is 3%", None},
		{"Error: something broke", None},
		{"ERRORS found: 0", None},
		{"MYERROR: no", None},
		{"time=2026-12-03T22:42:07Z level=error msg=\"db down\"", Error},
		{"time=2026-12-03T22:42:07Z level=WARN msg=\"slow\"", Warning},
		{"time=2026-12-03T22:42:07Z level=info msg=\"level=error is only quoted\"", None},
		{`{"time":"2026-12-03T22:42:07Z","level":"error","msg":"x"}`, Error},
		{`{"time":"2026-12-03T22:42:07Z","level":"WARNING","msg":"x"}`, Warning},
		{"sublevel=error", None},
		{strings.Repeat("x", HeaderBytes) + " ERROR: too far into the line", None},
		{"", None},
	}
	for _, c := range cases {
		var ctr Counter
		if got := ctr.Line([]byte(c.line)); got != c.want {
			t.Errorf("%q: got level %d, want %d", c.line, got, c.want)
		}
	}
}

func TestTracebacks(t *testing.T) {
	log := `2026-12-03 22:42:07 [scrapy.core.scraper] ERROR: Spider error processing <GET https://example.com/>
Traceback (most recent call last):
  File "/x.py", line 1, in parse
    raise ValueError("bad")
ValueError: bad
plain output
Traceback (most recent call last):
  File "/y.py", line 2, in <module>
    int("x")
ValueError: invalid literal

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/y.py", line 4, in <module>
    raise RuntimeError("ERROR: again")
RuntimeError: ERROR: again
2026-12-03 22:42:08 [root] WARNING: done
Traceback (most recent call last):
KeyError: 'x'`
	var c Counter
	var errs []int
	for i, l := range strings.Split(log, "\n") {
		if c.Line([]byte(l)) == Error {
			errs = append(errs, i)
		}
	}
	// The ERROR line (its traceback continues it), the bare traceback
	// (with its chained one), and the traceback after the warning.
	if want := []int{0, 6, 18}; !reflect.DeepEqual(errs, want) {
		t.Errorf("error lines %v, want %v", errs, want)
	}
	if got := c.Levels(); got.Error != 3 || got.Warning != 1 {
		t.Errorf("levels %+v, want 3 errors and 1 warning", got)
	}
}

const scrapyEnd = `2026-12-03 22:42:09 [scrapy.core.engine] INFO: Closing spider (finished)
2026-12-03 22:42:09 [scrapy.statscollectors] INFO: Dumping Scrapy stats:
{'downloader/request_bytes': 2310,
 'downloader/response_status_count/200': 10,
 'elapsed_time_seconds': 1.532,
 'finish_reason': 'finished',
 'finish_time': datetime.datetime(2026, 12, 3, 22, 42, 9, 123456, tzinfo=datetime.timezone.utc),
 'item_scraped_count': 100,
 'log_count/ERROR': 2,
 'log_count/WARNING': 1,
 'memusage/max': 61210624,
 'robotstxt/response_status_count/404': 1,
 'scheduler/dequeued': 10,
 'start_time': datetime.datetime(2026, 12, 3, 22, 42, 7, 591000),
 'somelist': [1, 'a}'],
 'flag': True,
 'nothing': None,
 'long': 'a'
         'b'}
2026-12-03 22:42:09 [scrapy.core.engine] INFO: Spider closed (finished)`

func TestScrapyStats(t *testing.T) {
	var c Counter
	for _, l := range strings.Split(scrapyEnd, "\n") {
		c.Line([]byte(l))
	}
	want := map[string]any{
		"downloader/request_bytes":             2310.0,
		"downloader/response_status_count/200": 10.0,
		"elapsed_time_seconds":                 1.532,
		"finish_reason":                        "finished",
		"finish_time":                          "2026-12-03T22:42:09.123456Z",
		"item_scraped_count":                   100.0,
		"log_count/ERROR":                      2.0,
		"log_count/WARNING":                    1.0,
		"memusage/max":                         61210624.0,
		"robotstxt/response_status_count/404":  1.0,
		"scheduler/dequeued":                   10.0,
		"start_time":                           "2026-12-03T22:42:07.591000",
		"somelist":                             "[1, 'a}']",
		"flag":                                 true,
		"nothing":                              nil,
		"long":                                 "ab",
	}
	if got := c.ScrapyStats(); !reflect.DeepEqual(got, want) {
		t.Errorf("stats\n got %v\nwant %v", got, want)
	}
	// The dump's "log_count/ERROR" lines are not errors.
	if got := c.Levels(); got.Error != 0 || got.Warning != 0 {
		t.Errorf("levels %+v, want none", got)
	}
}

func TestNotAStatsDump(t *testing.T) {
	var c Counter
	for _, l := range []string{"INFO: Dumping Scrapy stats:", "ERROR: no dict follows"} {
		c.Line([]byte(l))
	}
	if c.ScrapyStats() != nil || c.Levels().Error != 1 {
		t.Errorf("stats %v, levels %+v: want none and 1 error", c.ScrapyStats(), c.Levels())
	}
}

func TestBadStats(t *testing.T) {
	for _, s := range []string{"", "[1]", "{'a' 1}", "{'a': }", "{'a': 1", "{1: 2}", "{'a': 'x}"} {
		if m, err := ParseStats([]byte(s)); err == nil {
			t.Errorf("ParseStats(%q) = %v, want an error", s, m)
		}
	}
}

func BenchmarkLine(b *testing.B) {
	line := []byte("2026-12-03 22:42:07 [scrapy.core.scraper] DEBUG: Scraped from <200 https://example.com/page/25>")
	var c Counter
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		c.Line(line)
	}
}
