"""The Scrapy pipeline: a real Scrapy project (Debian's python3-scrapy, run
with /usr/bin/python3) crawls a small site served here on loopback, and
every item reaches the fake items endpoint exactly once.
"""
import http.server
import io
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import unittest
from contextlib import redirect_stderr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_endpoint import FakeEndpoint  # noqa: E402
from test_python import PYTHON, child_env  # noqa: E402

PAGES = 6
ITEMS_PER_PAGE = 4


def _has_scrapy():
    return subprocess.run([PYTHON, "-c", "import scrapy"], capture_output=True).returncode == 0


def page(n):
    """Page n links to the next two pages and back to the first (the crawl
    meets most pages more than once), and lists its items."""
    links = "".join(
        f'<a href="/page/{m}">page {m}</a>' for m in (0, (n + 1) % PAGES, (n + 2) % PAGES)
    )
    items = "".join(
        f'<li class="item" data-sku="p{n}-{i}">Item {i} of page {n}</li>' for i in range(ITEMS_PER_PAGE)
    )
    return f"<html><body><h1>Page {n}</h1>{links}<ul>{items}</ul></body></html>".encode()


class _Site(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        parts = self.path.strip("/").split("/")
        if self.path == "/":
            # The start page: Scrapy fetches start URLs without marking them
            # seen, so it has no items of its own.
            body, status = b'<html><body><a href="/page/0">start</a></body></html>', 200
        elif len(parts) == 2 and parts[0] == "page" and parts[1].isdigit() and int(parts[1]) < PAGES:
            body, status = page(int(parts[1])), 200
        else:
            body, status = b"not found", 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


SPIDER = '''
import dataclasses

import scrapy


class Product(scrapy.Item):
    sku = scrapy.Field()
    name = scrapy.Field()
    page = scrapy.Field()
    kind = scrapy.Field()


@dataclasses.dataclass
class Listing:
    sku: str
    name: str
    page: str
    kind: str = "dataclass"


class SiteSpider(scrapy.Spider):
    name = "site"

    def __init__(self, start=None, **kw):
        super().__init__(**kw)
        self.start_urls = [start]

    def parse(self, response):
        title = response.css("h1::text").get()
        for i, li in enumerate(response.css("li.item")):
            sku, name = li.attrib["data-sku"], li.css("::text").get()
            # The three kinds of item a Scrapy project yields.
            if i % 3 == 0:
                yield {"sku": sku, "name": name, "page": title, "kind": "dict"}
            elif i % 3 == 1:
                yield Product(sku=sku, name=name, page=title, kind="item")
            else:
                yield Listing(sku=sku, name=name, page=title)
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, self.parse)
'''

SETTINGS = """
BOT_NAME = "site"
SPIDER_MODULES = ["siteproject.spiders"]
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "WARNING"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
ITEM_PIPELINES = {"crawlhub.scrapy.CrawlhubPipeline": 300}
"""


@unittest.skipUnless(_has_scrapy(), f"Scrapy is not installed for {PYTHON} (apt-get install python3-scrapy)")
class ScrapyTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeEndpoint().start()
        self.addCleanup(self.fake.stop)
        self.site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
        self.site.daemon_threads = True
        thread = threading.Thread(target=self.site.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(self.site.server_close)
        self.addCleanup(self.site.shutdown)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.project = tmp.name
        files = {
            "scrapy.cfg": "[settings]\ndefault = siteproject.settings\n",
            "siteproject/__init__.py": "",
            "siteproject/settings.py": SETTINGS,
            "siteproject/spiders/__init__.py": "",
            "siteproject/spiders/site.py": SPIDER,
        }
        for name, text in files.items():
            path = os.path.join(self.project, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(textwrap.dedent(text))

    def test_every_item_reaches_crawlhub_once(self):
        start = f"http://127.0.0.1:{self.site.server_address[1]}/"
        p = subprocess.run(
            [PYTHON, "-m", "scrapy", "crawl", "site", "-a", f"start={start}"],
            cwd=self.project,
            env=child_env(CRAWLHUB_ITEMS_URL=self.fake.url),
            capture_output=True,
            timeout=120,
        )
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertNotIn(b"ERROR", p.stderr, p.stderr.decode())
        items = self.fake.snapshot()[0]
        want = {f"p{n}-{i}" for n in range(PAGES) for i in range(ITEMS_PER_PAGE)}
        self.assertEqual(sorted(it["sku"] for it in items), sorted(want))  # each once
        kinds = {it["kind"] for it in items}
        self.assertEqual(kinds, {"dict", "item", "dataclass"})
        for it in items:
            n = it["sku"][1:].split("-")[0]
            self.assertEqual(it["page"], f"Page {n}")


class PipelineTest(unittest.TestCase):
    def test_an_earlier_failure_does_not_cost_the_next_item(self):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
        from crawlhub import Saver
        from crawlhub.scrapy import CrawlhubPipeline

        fake = FakeEndpoint().start()
        self.addCleanup(fake.stop)
        saver = Saver(fake.url, interval=3600)
        errors = []

        class Spider:
            class logger:
                @staticmethod
                def error(msg, *args):
                    errors.append(msg % args)

        p = CrawlhubPipeline(saver=saver)
        with redirect_stderr(io.StringIO()):
            p.process_item({"n": 0, "server_rejects": True}, Spider)
            saver._drain()  # the endpoint refuses it, in the background
            self.assertEqual(p.process_item({"n": 1}, Spider), {"n": 1})
            p.close_spider(Spider)
            saver.close()
        self.assertEqual(fake.snapshot()[0], [{"n": 1}])
        self.assertEqual(len(errors), 1)
        self.assertIn("crawlhub refused an item (line 1: refused)", errors[0])


class PipelineWithoutScrapyTest(unittest.TestCase):
    def test_imports_and_saves_without_scrapy(self):
        fake = FakeEndpoint().start()
        self.addCleanup(fake.stop)
        code = textwrap.dedent(
            """
            import dataclasses, logging, sys
            sys.modules["scrapy"] = None  # import scrapy fails
            sys.modules["itemadapter"] = None
            from crawlhub.scrapy import CrawlhubPipeline

            class Spider:
                logger = logging.getLogger("spider")

            @dataclasses.dataclass
            class Row:
                n: int

            p = CrawlhubPipeline()
            assert p.process_item({"n": 0}, Spider) == {"n": 0}
            p.process_item(Row(1), Spider)
            p.process_item({"_id": "refused"}, Spider)  # logged, passed on
            p.close_spider(Spider)
            """
        )
        p = subprocess.run(
            [PYTHON, "-c", code],
            env=child_env(CRAWLHUB_ITEMS_URL=fake.url),
            capture_output=True,
            timeout=60,
        )
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn(b"reserved key '_id'", p.stderr)
        self.assertEqual(fake.snapshot()[0], [{"n": 0}, {"n": 1}])


if __name__ == "__main__":
    unittest.main()
