"""crawlhub: save a spider's items to crawlhub.

    from crawlhub import save_item, save_items

    save_item({"url": url, "title": title})

Items are JSON objects (dicts), at most 1 MiB each as JSON. They are sent to
the task's items endpoint (CRAWLHUB_ITEMS_URL, set by crawlhub for every
task) in batches of up to 500, or one second after the first of a batch was
saved, and whatever is left is sent when the interpreter exits. Outside
crawlhub (no CRAWLHUB_ITEMS_URL) items are written as NDJSON to stdout, or
appended to the file named by CRAWLHUB_ITEMS_FILE.

Standard library only; Python 3.9+. The "Saving results" page of crawlhub's
docs says what happens on each kind of error.
"""
import os
import signal
import sys
import threading

from ._items import MAX_ITEM_BYTES, RESERVED_KEYS, ItemError
from ._saver import SaveError, Saver

__all__ = [
    "save_item",
    "save_items",
    "flush",
    "ItemError",
    "SaveError",
    "Saver",
    "MAX_ITEM_BYTES",
    "RESERVED_KEYS",
]

_default = None
_default_lock = threading.Lock()


def _saver():
    global _default
    saver = _default
    if saver is not None:
        return saver
    with _default_lock:
        if _default is None:
            _default = _from_env()
            _exit_on_sigterm()
        return _default


def _from_env():
    url = os.environ.get("CRAWLHUB_ITEMS_URL")
    if url:
        return Saver(url)
    path = os.environ.get("CRAWLHUB_ITEMS_FILE")
    if path:
        print(
            f"crawlhub: CRAWLHUB_ITEMS_URL is not set (not a crawlhub task): "
            f"appending items to {path} as NDJSON",
            file=sys.stderr,
            flush=True,
        )
        return Saver(stream=open(path, "ab"))
    print(
        "crawlhub: CRAWLHUB_ITEMS_URL is not set (not a crawlhub task): writing items to "
        "stdout as NDJSON (set CRAWLHUB_ITEMS_FILE to append them to a file instead)",
        file=sys.stderr,
        flush=True,
    )
    return Saver()


def _exit_on_sigterm():
    """crawlhub cancels a task with SIGTERM. Python's default is to die at
    once, losing the items of the last second; exiting through SystemExit
    runs the exit flush instead. Only when nobody handles SIGTERM already
    (Scrapy does, and closes its spiders, which flushes)."""
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _sigterm)
    except (ValueError, OSError):
        pass


def _sigterm(signum, frame):
    sys.exit(128 + signum)


def save_item(item):
    """Saves one item: a dict (or another mapping, or a dataclass instance).

    Raises ItemError when crawlhub cannot take the item (not an object, a
    reserved key, a value JSON cannot hold, over 1 MiB): nothing of it is
    saved and the spider can go on. Raises SaveError when earlier items
    could not be saved (that item is not taken either).
    """
    _saver().save_item(item)


def save_items(items):
    """Saves every item of an iterable, or — when one is bad — none of
    them, raising ItemError that names its index."""
    _saver().save_items(items)


def flush():
    """Sends the buffered items now and waits for crawlhub's answer.
    Raises SaveError if any item saved so far could not be saved."""
    saver = _default
    if saver is not None:
        saver.flush()
