"""The Saver: buffers encoded items and sends them in batches, by count and
by time, retrying while the endpoint is briefly away, and says loudly what
it could not save.
"""
import atexit
import http.client
import os
import sys
import threading
import time
import weakref

from ._items import ItemError, encode_item, preview
from ._transport import FileSink, HTTPSink


class SaveError(Exception):
    """Items were not saved: crawlhub refused them, the task is gone, or the
    endpoint did not answer for the whole retry time.

    ``lost`` is how many items were dropped (refused, or the task is gone);
    items that could not be sent for lack of an answer are not dropped and
    ``waiting`` says how many are still buffered for the next flush.
    ``status`` is the HTTP status of the refusal, None if there was no
    answer.
    """

    def __init__(self, message, lost=0, waiting=0, status=None):
        super().__init__(message)
        self.lost = lost
        self.waiting = waiting
        self.status = status


class _Unavailable(Exception):
    """No usable answer for the whole retry time."""


# Statuses that mean the task's endpoint is gone for good: the task ended
# and was cleaned up, or the secret is wrong. Retrying cannot help.
_GONE = (401, 403, 404, 410)

_savers = weakref.WeakSet()


def _after_fork_in_child():
    for saver in list(_savers):
        saver._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _warn(message):
    try:
        print(f"crawlhub: {message}", file=sys.stderr, flush=True)
    except Exception:  # stderr closed at exit: nothing better to do
        pass


class Saver:
    """Saves items to one endpoint (or stream). Thread-safe.

    Items are sent when batch_size of them (or batch_bytes of JSON) are
    buffered, or interval seconds after the oldest buffered one was saved,
    by a background daemon thread; flush() sends them now. When
    max_pending items are buffered (the endpoint is slow or away), saving
    waits for a send, so memory stays bounded.

    A failure found in the background is printed on stderr at once and
    raised as SaveError by the next save_item, save_items or flush; a call
    that raises took none of its items.
    """

    def __init__(
        self,
        url=None,
        *,
        stream=None,
        batch_size=500,
        batch_bytes=4 << 20,
        interval=1.0,
        retry_for=60.0,
        max_pending=None,
        timeout=30.0,
    ):
        if url:
            self._sink = HTTPSink(url, timeout)
        else:
            self._sink = FileSink(stream)
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._interval = interval
        self._retry_for = retry_for
        self._max_pending = max_pending or 10 * batch_size
        self._init_state()
        self.saved = 0  # items the endpoint accepted
        self.lost = 0  # items dropped, each reported on stderr
        _savers.add(self)
        atexit.register(self._at_exit)

    def _init_state(self):
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._send_lock = threading.Lock()  # one batch on the wire at a time, in order
        self._buf = []  # encoded lines, oldest first
        self._buf_bytes = 0
        self._at = []  # when each buffered line was saved (time.monotonic)
        self._error = None  # a SaveError not yet raised to the spider
        self._gone = None  # the SaveError every call raises once the task is gone
        self._failures = 0  # sends that gave up, so waiters need not retry at once
        self._thread = None
        self._closed = False

    # The spider's side.

    def save_item(self, item):
        """Saves one item (a dict). Raises ItemError if crawlhub cannot
        take it, SaveError for an earlier failure."""
        self._put([encode_item(item)])

    def save_items(self, items):
        """Saves items (any iterable of dicts): all of them, or — when one
        is bad — none, raising ItemError naming its index."""
        if isinstance(items, (dict, str, bytes)) or hasattr(items, "keys"):
            raise ItemError("save_items takes an iterable of items (a list of dicts); use save_item for one")
        self._put([encode_item(item, i) for i, item in enumerate(items)])

    def flush(self):
        """Sends every buffered item now; raises SaveError if any item saved
        so far could not be saved (each failure is raised once)."""
        self._drain()
        with self._lock:
            self._check()

    def close(self):
        """Flushes, then stops the background thread. Raises as flush."""
        atexit.unregister(self._at_exit)
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join()
            self._sink.close()

    def _put(self, lines):
        if not lines:
            with self._lock:
                self._check()
            return
        with self._lock:
            self._check()
            over = len(self._buf) + len(lines) > self._max_pending
            failures = self._failures
        if over:
            # Backpressure: send in this thread. If the background thread
            # just gave up, its error stands; trying again now would only
            # make the spider wait another retry time before hearing of it.
            with self._send_lock:
                with self._lock:
                    retry = self._failures == failures
                if retry:
                    self._drain_locked(everything=True)
        with self._cond:
            self._check()
            self._at.extend([time.monotonic()] * len(lines))
            self._buf.extend(lines)
            self._buf_bytes += sum(len(line) + 1 for line in lines)
            start = self._thread is None
            self._cond.notify()
        if start:
            self._start_thread()

    def _check(self):
        """Raises the error the spider has not heard of yet. Holds _lock."""
        if self._gone is not None:
            raise self._gone
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    # The background thread.

    def _start_thread(self):
        with self._lock:
            if self._thread is not None or self._closed:
                return
            thread = threading.Thread(target=self._run, name="crawlhub-items", daemon=True)
            try:
                thread.start()
            except RuntimeError:
                # Saving during interpreter shutdown: no new threads, so the
                # items wait for the exit flush (or an explicit flush).
                return
            self._thread = thread

    def _run(self):
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    if self._buf and self._gone is None:
                        wait = self._due_in()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            try:
                self._drain(everything=False)
            except Exception as e:  # a bug here must not kill the thread silently
                self._fail(SaveError(f"sending items failed: {e!r}"))
                time.sleep(self._interval)

    # Sending.

    def _due_in(self):
        """Seconds until a batch is due: 0 when a full one is buffered, or
        when savers wait for room. Holds _lock; the buffer is not empty."""
        full = min(self._batch_size, self._max_pending)
        if len(self._buf) >= full or self._buf_bytes >= self._batch_bytes:
            return 0
        return self._at[0] + self._interval - time.monotonic()

    def _drain(self, everything=True):
        with self._send_lock:
            self._drain_locked(everything)

    def _drain_locked(self, everything):
        """Sends the buffered lines a batch at a time: all of them, or (for
        the background thread) the batches that are due, so that a few lines
        saved during a send wait to make a batch of their own. Holds
        _send_lock."""
        while True:
            with self._lock:
                if not self._buf or self._gone is not None:
                    return
                if not everything and self._due_in() > 0:
                    return
                n, size = 0, 0
                while n < len(self._buf) and n < self._batch_size:
                    size += len(self._buf[n]) + 1
                    n += 1
                    if size >= self._batch_bytes:
                        break
                batch = self._buf[:n]
                del self._buf[:n]
                del self._at[:n]
                self._buf_bytes -= size
            pending = [batch]  # parts not yet answered, in order
            try:
                self._deliver(pending)
            except _Unavailable as e:
                self._requeue(pending)
                with self._lock:
                    waiting = len(self._buf)
                self._fail(
                    SaveError(
                        f"the items endpoint did not answer for {self._retry_for:g} s ({e}); "
                        f"{waiting} items are kept and will be sent by the next flush",
                        waiting=waiting,
                    )
                )
                return
            except BaseException:
                # SystemExit (SIGTERM), KeyboardInterrupt: keep what was not
                # answered, so that the exit flush sends it.
                self._requeue(pending)
                raise

    def _requeue(self, pending):
        lines = [line for part in pending for line in part]
        with self._lock:
            self._buf[0:0] = lines
            self._buf_bytes += sum(len(line) + 1 for line in lines)
            # Due again one interval from now, not at once: the endpoint
            # has just been away for the whole retry time.
            self._at[0:0] = [time.monotonic()] * len(lines)

    def _deliver(self, pending):
        """Sends pending (a list of lists of lines), removing each part once
        answered. A refused request keeps none of its lines, so a bad line
        is dropped and the rest sent again; a body too large is split."""
        while pending:
            part = pending[0]
            status, reply = self._post(b"\n".join(part) + b"\n")
            pending.pop(0)
            error = reply.get("error") or f"HTTP {status}"
            if status == 200:
                with self._lock:
                    self.saved += len(part)
                continue
            if status in _GONE:
                self._task_gone(status, error, sum(len(p) for p in pending) + len(part))
                pending.clear()
                return
            if status == 413 and len(part) > 1:
                half = len(part) // 2
                pending[0:0] = [part[:half], part[half:]]
                continue
            line = reply.get("line")
            if status == 400 and isinstance(line, int) and 1 <= line <= len(part):
                bad = part[line - 1]
                pending[0:0] = [p for p in (part[: line - 1], part[line:]) if p]
                self._drop([bad], status, f"crawlhub refused an item ({error}): {preview(bad)}")
                continue
            what = "crawlhub refused" if status else "could not save"
            if len(part) == 1:
                self._drop(part, status, f"{what} an item ({error}): {preview(part[0])}")
            else:
                self._drop(part, status, f"{what} {len(part)} items ({error})")

    def _post(self, body):
        """Posts body until the endpoint answers below 500, for up to
        retry_for seconds, backing off; raises _Unavailable after that."""
        deadline = time.monotonic() + self._retry_for
        delay = 0.1
        warned = False
        while True:
            try:
                status, reply = self._sink.post(body)
                if status < 500:
                    return status, reply
                why = f"HTTP {status}: {reply.get('error')}"
            except (OSError, http.client.HTTPException) as e:
                why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if time.monotonic() + delay > deadline:
                raise _Unavailable(why)
            if not warned:
                _warn(f"the items endpoint is not answering ({why}); retrying for up to {self._retry_for:g} s")
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    # Failures.

    def _fail(self, error):
        """Records a failure for the spider's next call, and says it now."""
        _warn(str(error))
        with self._lock:
            self._failures += 1
            if self._error is None:
                self._error = error
            else:
                self._error.lost += error.lost
                self._error.waiting = error.waiting

    def _drop(self, lines, status, message):
        with self._lock:
            self.lost += len(lines)
        self._fail(SaveError(message, lost=len(lines), status=status))

    def _task_gone(self, status, error, unsent):
        with self._lock:
            unsent += len(self._buf)
            self._buf.clear()
            self._at.clear()
            self._buf_bytes = 0
            self.lost += unsent
            self._gone = SaveError(
                f"crawlhub no longer takes this task's items ({error}, HTTP {status}): the task "
                "has ended or its CRAWLHUB_ITEMS_URL is wrong; items cannot be saved",
                status=status,
            )
            self._failures += 1
        _warn(f"{self._gone} ({unsent} items not saved)")

    # Process life.

    def _at_exit(self):
        try:
            self.flush()
        except SaveError:
            pass  # already said on stderr when it happened
        except Exception as e:
            _warn(f"flushing items at exit failed: {e!r}")
        with self._lock:
            waiting, lost = len(self._buf), self.lost
        if waiting or lost:
            _warn(f"at exit: {self.saved} items saved, {lost + waiting} NOT saved (see above)")

    def _after_fork(self):
        # The child starts empty: the parent still owns and sends what was
        # buffered. Locks may have been held by the parent's other threads.
        self._init_state()
        self._sink.after_fork()
