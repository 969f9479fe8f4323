"""A fake of the agent's items endpoint, for the SDK tests.

It keeps the contract spiders see: POST NDJSON to the secret path; 200
{"accepted", "total"}; a bad line refuses the whole request with 400
{"error": "line N: …", "line": N} (N counts from 1); 413 when the body is
over max_body; 403 for a wrong secret or once the task is gone. Tests make
it fail: fail_next answers 503 that many times; an item with the key
"server_rejects" is a bad line (the SDK checks everything else first).
"""
import http.server
import json
import os
import socketserver
import tempfile
import threading
import time
import urllib.parse

RESERVED = ("_id", "_task_id", "_n", "_key", "_outcome", "_current", "_saved", "_json")
SECRET = "s3cr3t"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The reply's head and body are two writes: without this, Nagle and
    # delayed ACKs add 40 ms to every request.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        status, obj = fake._handle(self.path, body)
        self._reply(status, obj)


class _UnixHandler(_Handler):
    disable_nagle_algorithm = False  # TCP only


class _TCPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeEndpoint:
    """Start with start() (TCP on 127.0.0.1, port 0) or start_unix();
    url is what CRAWLHUB_ITEMS_URL would be."""

    def __init__(self, max_body=16 << 20):
        self.max_body = max_body
        self.fail_next = 0  # answer 503 to this many requests
        self.gone = False  # answer 403 to every request
        self.items = []  # every item kept, in order
        self.requests = []  # (status, number of lines) of every request
        self._cond = threading.Condition()
        self._server = None
        self._thread = None
        self._tmpdir = None
        self.url = None

    def start(self, port=0):
        self._server = _TCPServer(("127.0.0.1", port), _Handler)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}/items/{SECRET}?task=t1"
        return self._serve()

    def start_unix(self):
        self._tmpdir = tempfile.mkdtemp(prefix="crawlhub-sdk-")
        path = os.path.join(self._tmpdir, "items.sock")
        self._server = _UnixServer(path, _UnixHandler)
        self.url = f"http+unix://{urllib.parse.quote(path, safe='')}/items/{SECRET}"
        return self._serve()

    def _serve(self):
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None
        if self._tmpdir is not None:
            for name in os.listdir(self._tmpdir):
                os.unlink(os.path.join(self._tmpdir, name))
            os.rmdir(self._tmpdir)
            self._tmpdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _handle(self, path, body):
        status, obj, lines = self._answer(path, body)
        with self._cond:
            self.requests.append((status, lines))
            self._cond.notify_all()
        return status, obj

    def _answer(self, path, body):
        with self._cond:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 503, {"error": "busy, try again"}, 0
            gone = self.gone
        if not path.startswith(f"/items/{SECRET}") or gone:
            return 403, {"error": "no such task or wrong secret"}, 0
        if len(body) > self.max_body:
            return 413, {"error": f"body over {self.max_body} bytes; send fewer items per request"}, 0
        if body and not body.endswith(b"\n"):
            return 400, {"error": "the body must end with a newline"}, 0
        lines = body.split(b"\n")[:-1] if body else []
        kept = []
        for n, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
            except ValueError as e:
                return 400, {"error": f"line {n}: not JSON: {e}", "line": n}, len(lines)
            if not isinstance(item, dict):
                return 400, {"error": f"line {n}: not a JSON object", "line": n}, len(lines)
            if "server_rejects" in item or any(k in item for k in RESERVED):
                return 400, {"error": f"line {n}: refused", "line": n}, len(lines)
            if len(line) > 1 << 20:
                return 400, {"error": f"line {n}: over 1 MiB", "line": n}, len(lines)
            kept.append(item)
        with self._cond:
            self.items.extend(kept)
            total = len(self.items)
        return 200, {"accepted": len(kept), "total": total}, len(lines)

    def wait_items(self, n, timeout=10.0):
        """Waits until n items are kept; returns them (fails after timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.items) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {n} items, got {len(self.items)}")
                self._cond.wait(left)
            return list(self.items)

    def wait_requests(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited {timeout} s for {n} requests, got {len(self.requests)}")
                self._cond.wait(left)
            return list(self.requests)

    def snapshot(self):
        with self._cond:
            return list(self.items), list(self.requests)
