"""Tests of the Python SDK (sdk/python) against a fake items endpoint.

Run: /usr/bin/python3 -m unittest discover -s sdk/tests -p 'test_*.py'
"""
import datetime
import decimal
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
from contextlib import redirect_stderr

HERE = os.path.dirname(os.path.abspath(__file__))
SDK = os.path.join(os.path.dirname(HERE), "python")
sys.path.insert(0, SDK)
sys.path.insert(0, HERE)

from crawlhub import ItemError, SaveError, Saver  # noqa: E402
from fake_endpoint import FakeEndpoint  # noqa: E402

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def child_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRAWLHUB_")}
    env["PYTHONPATH"] = SDK
    env.update(extra)
    return env


def close_quietly(saver):
    try:
        saver.close()
    except SaveError:
        pass


class SaverTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeEndpoint().start()
        self.addCleanup(self.fake.stop)
        self.stderr = io.StringIO()
        ctx = redirect_stderr(self.stderr)
        ctx.__enter__()
        self.addCleanup(ctx.__exit__, None, None, None)

    def saver(self, url=None, **kw):
        kw.setdefault("retry_for", 5.0)
        s = Saver(url or self.fake.url, **kw)
        self.addCleanup(close_quietly, s)
        return s

    def test_batches_by_count(self):
        s = self.saver(batch_size=5, interval=3600)
        for i in range(12):
            s.save_item({"n": i})
        # Two full batches go without a flush; the rest waits for one.
        self.fake.wait_requests(2)
        items, requests = self.fake.snapshot()
        self.assertEqual(requests, [(200, 5), (200, 5)])
        s.flush()
        items, requests = self.fake.snapshot()
        self.assertEqual([it["n"] for it in items], list(range(12)))
        self.assertEqual(requests[-1], (200, 2))
        self.assertEqual(s.saved, 12)

    def test_batches_by_time(self):
        s = self.saver(batch_size=1000, interval=0.3)
        saved_at = time.monotonic()
        s.save_items([{"n": 0}, {"n": 1}, {"n": 2}])
        items = self.fake.wait_items(3, timeout=5)
        self.assertGreaterEqual(time.monotonic() - saved_at, 0.3)
        self.assertEqual([it["n"] for it in items], [0, 1, 2])
        self.assertEqual(self.fake.snapshot()[1], [(200, 3)])

    def test_retries_503_then_keeps_every_item_once(self):
        self.fake.fail_next = 3
        s = self.saver(batch_size=7, interval=3600)
        for i in range(20):
            s.save_item({"n": i})
        s.flush()
        items, requests = self.fake.snapshot()
        self.assertEqual([it["n"] for it in items], list(range(20)))
        self.assertEqual([r for r in requests if r[0] == 503], [(503, 0)] * 3)
        self.assertIn("retrying", self.stderr.getvalue())

    def test_retries_until_the_endpoint_is_up(self):
        port = self.fake._server.server_address[1]
        url = self.fake.url
        self.fake.stop()  # nothing listens on the port for a while
        s = self.saver(url, interval=3600, retry_for=20)
        s.save_items([{"n": i} for i in range(5)])
        done = threading.Event()
        errors = []

        def flush():
            try:
                s.flush()
            except Exception as e:
                errors.append(e)
            done.set()

        threading.Thread(target=flush).start()
        # The flush is retrying (it said so): now the agent comes back.
        deadline = time.monotonic() + 10
        while "retrying" not in self.stderr.getvalue():
            self.assertLess(time.monotonic(), deadline, "no retry reported")
            time.sleep(0.02)
        self.fake = FakeEndpoint().start(port)
        self.addCleanup(self.fake.stop)
        self.assertTrue(done.wait(20))
        self.assertEqual(errors, [])
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], list(range(5)))

    def test_gives_up_after_retry_time_and_keeps_the_items(self):
        self.fake.fail_next = 10**6
        s = self.saver(interval=3600, retry_for=0.5)
        s.save_items([{"n": i} for i in range(4)])
        with self.assertRaises(SaveError) as cm:
            s.flush()
        self.assertEqual(cm.exception.waiting, 4)
        self.assertIn("did not answer", str(cm.exception))
        self.assertNotIn("s3cr3t", str(cm.exception) + self.stderr.getvalue())
        self.fake.fail_next = 0
        s.flush()
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], [0, 1, 2, 3])

    def test_a_line_the_server_refuses_fails_alone(self):
        s = self.saver(interval=3600)
        s.save_items([{"n": 0}, {"n": 1}, {"n": 2, "server_rejects": True}, {"n": 3}])
        with self.assertRaises(SaveError) as cm:
            s.flush()
        msg = str(cm.exception)
        self.assertIn("line 3", msg)
        self.assertIn('"n":2', msg)  # names the item
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(cm.exception.lost, 1)
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], [0, 1, 3])
        # Reported once; the saver goes on.
        s.save_item({"n": 4})
        s.flush()
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], [0, 1, 3, 4])

    def test_body_too_large_is_split(self):
        self.fake.max_body = 250
        s = self.saver(interval=3600)
        s.save_items([{"n": i, "pad": "x" * 80} for i in range(10)])
        s.flush()
        items, requests = self.fake.snapshot()
        self.assertEqual([it["n"] for it in items], list(range(10)))
        self.assertIn(413, [status for status, _ in requests])

    def test_task_gone(self):
        s = self.saver(interval=3600)
        s.save_item({"n": 0})
        self.fake.gone = True
        with self.assertRaises(SaveError) as cm:
            s.flush()
        self.assertEqual(cm.exception.status, 403)
        self.assertIn("no longer takes", str(cm.exception))
        # Every later call says so too, without retrying for a minute.
        with self.assertRaises(SaveError):
            s.save_item({"n": 1})
        self.assertEqual(len(self.fake.snapshot()[1]), 1)

    def test_background_failure_is_raised_by_the_next_call(self):
        s = self.saver(batch_size=2, interval=3600)
        self.fake.gone = True
        s.save_items([{"n": 0}, {"n": 1}])  # a full batch: sent in the background
        self.fake.wait_requests(1)
        with s._send_lock:  # held by the background send until it is over
            pass
        self.assertIn("no longer takes", self.stderr.getvalue())  # said at once
        with self.assertRaises(SaveError) as cm:
            s.save_item({"n": 2})
        self.assertEqual(cm.exception.status, 403)

    def test_threads(self):
        s = self.saver(batch_size=100, interval=0.05)

        def work(t):
            for i in range(1000):
                s.save_item({"t": t, "i": i})

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s.flush()
        items = self.fake.snapshot()[0]
        self.assertEqual(len(items), 8000)
        self.assertEqual(len({(it["t"], it["i"]) for it in items}), 8000)
        for t in range(8):  # each thread's items in its order
            self.assertEqual([it["i"] for it in items if it["t"] == t], list(range(1000)))

    def test_backpressure_bounds_the_buffer(self):
        s = self.saver(batch_size=10, max_pending=20, interval=3600)
        for i in range(1000):
            s.save_item({"n": i})
            self.assertLessEqual(len(s._buf), 20)
        s.flush()
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], list(range(1000)))

    @unittest.skipUnless(os.path.exists("/dev/full"), "no /dev/full")
    def test_a_file_that_cannot_be_written_is_not_retried(self):
        with open("/dev/full", "ab", buffering=0) as full:  # unbuffered: it fails at the write
            s = Saver(stream=full, interval=3600, retry_for=60)
            s.save_items([{"n": 0}, {"n": 1}])
            with self.assertRaises(SaveError) as cm:
                s.flush()  # at once, not after a minute of retries
            self.assertIn("could not save 2 items (writing items to the items file failed", str(cm.exception))
            self.assertEqual(cm.exception.lost, 2)
            s.close()

    def test_unix_socket(self):
        with FakeEndpoint().start_unix() as fake:
            self.assertTrue(fake.url.startswith("http+unix://%2F"))
            s = self.saver(fake.url, interval=3600)
            s.save_items([{"n": i} for i in range(3)])
            s.flush()
            self.assertEqual([it["n"] for it in fake.snapshot()[0]], [0, 1, 2])


class ItemTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeEndpoint().start()
        self.addCleanup(self.fake.stop)
        self.s = Saver(self.fake.url, interval=3600)
        self.addCleanup(close_quietly, self.s)

    def test_bad_items_fail_at_the_call(self):
        cases = [
            ([1, 2], "must be a JSON object"),
            ("text", "must be a JSON object"),
            ({"_id": 1}, "reserved key '_id'"),
            ({"a": {"_id": 1}, "_current": True}, "reserved key '_current'"),
            ({"big": "x" * (1 << 20)}, "over the limit of 1048576 bytes"),
            ({"f": float("nan")}, "NaN or Infinity"),
            ({"o": object()}, "type object is not JSON"),
            ({"b": b"\xff\xfe"}, "not UTF-8"),
            ({"s": "\ud800"}, "lone surrogate"),
        ]
        for item, want in cases:
            with self.subTest(want=want):
                with self.assertRaises(ItemError) as cm:
                    self.s.save_item(item)
                self.assertIn(want, str(cm.exception))
                self.assertIsInstance(cm.exception, ValueError)
        self.s.flush()
        self.assertEqual(self.fake.snapshot(), ([], []))

    def test_an_item_of_exactly_the_limit_is_taken(self):
        pad = (1 << 20) - len('{"big":""}')
        self.s.save_item({"big": "x" * pad})
        self.s.flush()
        self.assertEqual(len(self.fake.snapshot()[0][0]["big"]), pad)

    def test_save_items_takes_all_or_none(self):
        with self.assertRaises(ItemError) as cm:
            self.s.save_items([{"n": 0}, {"n": 1}, {"_key": 2}, {"n": 3}])
        self.assertEqual(cm.exception.index, 2)
        self.assertIn("item 2", str(cm.exception))
        with self.assertRaises(ItemError) as cm:
            self.s.save_items({"n": 0})  # one item, not a list of them
        self.assertIn("use save_item for one", str(cm.exception))
        self.s.flush()
        self.assertEqual(self.fake.snapshot()[0], [])

    def test_values_json_has_no_type_for(self):
        when = datetime.datetime(2026, 12, 3, 16, 5, 0, tzinfo=datetime.timezone.utc)
        u = uuid.UUID("12345678-1234-5678-1234-567812345678")
        self.s.save_item(
            {
                "when": when,
                "day": datetime.date(2026, 12, 3),
                "price": decimal.Decimal("19.990"),
                "tags": {"b", "a"},
                "raw": "café".encode(),
                "id": u,
                "tuple": (1, 2),
                "naïve": "ünïcode",
            }
        )
        self.s.flush()
        self.assertEqual(
            self.fake.snapshot()[0],
            [
                {
                    "when": "2026-12-03T16:05:00+00:00",
                    "day": "2026-12-03",
                    "price": "19.990",
                    "tags": ["a", "b"],
                    "raw": "café",
                    "id": str(u),
                    "tuple": [1, 2],
                    "naïve": "ünïcode",
                }
            ],
        )


class ProcessTest(unittest.TestCase):
    """A spider is a process: what happens when it ends."""

    def setUp(self):
        self.fake = FakeEndpoint().start()
        self.addCleanup(self.fake.stop)

    def run_child(self, code, env, **kw):
        return subprocess.run(
            [PYTHON, "-c", code], env=env, capture_output=True, timeout=60, **kw
        )

    def test_exit_flushes(self):
        code = "from crawlhub import save_item\nfor i in range(1234): save_item({'n': i})\n"
        p = self.run_child(code, child_env(CRAWLHUB_ITEMS_URL=self.fake.url))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], list(range(1234)))
        self.assertEqual(p.stderr, b"")

    def test_exit_after_an_exception_flushes(self):
        code = "from crawlhub import save_item\nsave_item({'n': 0})\nraise RuntimeError('spider bug')\n"
        p = self.run_child(code, child_env(CRAWLHUB_ITEMS_URL=self.fake.url))
        self.assertEqual(p.returncode, 1)
        self.assertEqual(self.fake.snapshot()[0], [{"n": 0}])

    def test_a_forked_child_sends_its_own_items_only(self):
        code = (
            "import os, sys\nfrom crawlhub import save_item, save_items\n"
            "save_items([{'who': 'parent', 'n': i} for i in range(3)])\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    save_items([{'who': 'child', 'n': i} for i in range(2)])\n"
            "    sys.exit(0)\n"
            "_, status = os.waitpid(pid, 0)\n"
            "sys.exit(os.waitstatus_to_exitcode(status))\n"
        )
        p = self.run_child(code, child_env(CRAWLHUB_ITEMS_URL=self.fake.url))
        self.assertEqual(p.returncode, 0, p.stderr)
        items = self.fake.snapshot()[0]
        self.assertEqual(sorted((it["who"], it["n"]) for it in items),
                         [("child", 0), ("child", 1), ("parent", 0), ("parent", 1), ("parent", 2)])

    def test_sigterm_flushes(self):
        code = (
            "import sys, time\nfrom crawlhub import save_item\n"
            "for i in range(10): save_item({'n': i})\n"
            "print('ready', flush=True)\ntime.sleep(60)\n"
        )
        p = subprocess.Popen(
            [PYTHON, "-c", code],
            env=child_env(CRAWLHUB_ITEMS_URL=self.fake.url),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.addCleanup(p.wait)
        self.addCleanup(p.stderr.close)
        self.addCleanup(p.stdout.close)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(30), 128 + signal.SIGTERM)
        self.assertEqual([it["n"] for it in self.fake.snapshot()[0]], list(range(10)))

    def test_exit_when_the_endpoint_is_away_says_so(self):
        self.fake.fail_next = 10**6
        code = (
            "import crawlhub\ncrawlhub._default = crawlhub.Saver("
            "__import__('os').environ['CRAWLHUB_ITEMS_URL'], retry_for=0.3)\n"
            "crawlhub.save_items([{'n': 0}, {'n': 1}])\n"
        )
        p = self.run_child(code, child_env(CRAWLHUB_ITEMS_URL=self.fake.url))
        self.assertIn(b"2 NOT saved", p.stderr)

    def test_outside_crawlhub_writes_ndjson_to_stdout(self):
        code = "import crawlhub\nprint('hello')\ncrawlhub.save_item({'n': 0})\ncrawlhub.save_items([{'n': 1}])\n"
        p = self.run_child(code, child_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, b'hello\n{"n":0}\n{"n":1}\n')
        self.assertEqual(p.stderr.count(b"CRAWLHUB_ITEMS_URL is not set"), 1)

    def test_outside_crawlhub_appends_to_a_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "items.ndjson")
            code = "import crawlhub\ncrawlhub.save_item({'n': 0})\n"
            for _ in range(2):
                p = self.run_child(code, child_env(CRAWLHUB_ITEMS_FILE=path))
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(p.stdout, b"")
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b'{"n":0}\n{"n":0}\n')


@unittest.skipUnless(shutil.which("curl"), "curl is not installed")
class CurlTest(unittest.TestCase):
    """The shell snippet of docs/saving-results.md posts a file with curl,
    over TCP and over a unix socket."""

    def test_the_documented_snippet(self):
        doc = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "saving-results.md")
        with open(doc) as f:
            blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
        snippet = next(b for b in blocks if b.startswith('case "$CRAWLHUB_ITEMS_URL"'))
        for start in ("start", "start_unix"):
            with self.subTest(start), tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "items.ndjson"), "w") as f:
                    f.write('{"n":1}\n{"n":2}\n')
                with getattr(FakeEndpoint(), start)() as fake:
                    p = subprocess.run(
                        ["sh", "-c", snippet],
                        cwd=d,
                        env={"PATH": os.environ["PATH"], "CRAWLHUB_ITEMS_URL": fake.url},
                        capture_output=True,
                        text=True,
                        timeout=30,
                    )
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertEqual(json.loads(p.stdout), {"accepted": 2, "total": 2})
                    self.assertEqual(fake.snapshot()[0], [{"n": 1}, {"n": 2}])


if __name__ == "__main__":
    unittest.main()
