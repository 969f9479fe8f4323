"""Where batches go: the task's items endpoint over HTTP (TCP or a unix
socket), or NDJSON to a file or stdout when the spider runs outside crawlhub.
"""
import http.client
import json
import socket
import sys
import urllib.parse


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket: the agent may give its endpoint as one."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._socket_path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class HTTPSink:
    """POSTs NDJSON bodies to CRAWLHUB_ITEMS_URL, on one kept-alive
    connection. Not thread-safe: the Saver sends one batch at a time.

    Messages never show the URL: it holds the task's secret.
    """

    def __init__(self, url, timeout=30.0):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "http":
            host, port = parts.hostname, parts.port
            if not host:
                raise ValueError("CRAWLHUB_ITEMS_URL has no host")
            self._connect = lambda: http.client.HTTPConnection(host, port, timeout=timeout)
        elif parts.scheme == "http+unix":
            path = urllib.parse.unquote(parts.netloc)
            if not path:
                raise ValueError("CRAWLHUB_ITEMS_URL has no socket path")
            self._connect = lambda: _UnixConnection(path, timeout)
        else:
            raise ValueError(
                f"CRAWLHUB_ITEMS_URL has the scheme {parts.scheme!r}: expected http or http+unix"
            )
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn = None

    def post(self, body):
        """Returns (status, reply): reply is the decoded JSON object, or
        {"error": text} when the reply is not JSON. Raises OSError or
        http.client.HTTPException when no reply came.
        """
        for attempt in (1, 2):
            reused = self._conn is not None
            if not reused:
                self._conn = self._connect()
            try:
                self._conn.request(
                    "POST", self._path, body=body, headers={"Content-Type": "application/x-ndjson"}
                )
                resp = self._conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException):
                self.close()
                # A kept-alive connection the server closed while idle fails on
                # first use, before the server read anything: try a new one once.
                if reused and attempt == 1:
                    continue
                raise
            if resp.will_close:
                self.close()
            try:
                reply = json.loads(data)
                if not isinstance(reply, dict):
                    raise ValueError
            except ValueError:
                reply = {"error": data.decode("utf-8", "replace").strip() or resp.reason}
            return resp.status, reply
        raise AssertionError("unreachable")

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def after_fork(self):
        # The connection is the parent's: a child makes its own.
        self.close()


class FileSink:
    """Appends NDJSON to a binary stream, or to stdout when stream is None:
    a spider run outside crawlhub still has its items, in the format the
    endpoint takes."""

    def __init__(self, stream=None, close=False):
        self._stream = stream
        self._close = close

    def post(self, body):
        """Answers like the endpoint; status 0 when writing failed (a closed
        pipe, a full disk), which no retry would mend."""
        try:
            self._write(body)
        except (OSError, ValueError) as e:  # ValueError: the stream is closed
            where = "stdout" if self._stream is None else "the items file"
            return 0, {"error": f"writing items to {where} failed: {e}"}
        return 200, {"accepted": body.count(b"\n")}

    def _write(self, body):
        stream = self._stream
        if stream is None:
            # Whatever sys.stdout is now (it may have been replaced), after
            # the text the spider printed, so that lines do not interleave.
            sys.stdout.flush()
            stream = getattr(sys.stdout, "buffer", None)
            if stream is None:
                sys.stdout.write(body.decode("utf-8"))
                sys.stdout.flush()
                return
        stream.write(body)
        stream.flush()

    def close(self):
        if self._close:
            self._stream.close()

    def after_fork(self):
        pass
