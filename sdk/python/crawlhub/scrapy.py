"""A Scrapy item pipeline that saves every item to crawlhub.

In the project's settings.py:

    ITEM_PIPELINES = {"crawlhub.scrapy.CrawlhubPipeline": 300}

Each item (a Scrapy Item, a dict, a dataclass or attrs instance) is saved as
a JSON object and passed on unchanged to the next pipeline; the spider's
items are flushed when it closes. An item crawlhub cannot take (see
crawlhub.ItemError) is logged as an error and passed on too, so feed exports
and later pipelines still get it.

Importing this module does not import Scrapy.
"""
import dataclasses
from collections.abc import Mapping

import crawlhub
from crawlhub import ItemError, SaveError


def _as_dict(item):
    try:
        from itemadapter import ItemAdapter  # Scrapy depends on it
    except ImportError:
        ItemAdapter = None
    if ItemAdapter is not None and ItemAdapter.is_item(item):
        return ItemAdapter(item).asdict()
    if isinstance(item, Mapping):
        return dict(item)
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return item  # save_item says why it is not an item


class CrawlhubPipeline:
    """Saves each item with crawlhub.save_item; flushes in close_spider.

    Stats: crawlhub/items_saved, crawlhub/items_refused (bad items, logged),
    crawlhub/save_errors (failures to save, logged).
    """

    def __init__(self, stats=None, saver=None):
        self._stats = stats
        self._saver = saver  # None: the crawlhub module's, from the environment

    @classmethod
    def from_crawler(cls, crawler):
        return cls(stats=crawler.stats)

    def _inc(self, key):
        if self._stats is not None:
            self._stats.inc_value(f"crawlhub/{key}")

    def process_item(self, item, spider):
        save = self._saver.save_item if self._saver is not None else crawlhub.save_item
        data = _as_dict(item)
        try:
            try:
                save(data)
            except SaveError as e:
                # About earlier items, and raised once: this item was not
                # taken, so it is given again.
                self._inc("save_errors")
                spider.logger.error("crawlhub: %s", e)
                save(data)
        except ItemError as e:
            self._inc("items_refused")
            spider.logger.error("crawlhub: item not saved: %s", e)
        except SaveError as e:  # the task is gone
            self._inc("save_errors")
            spider.logger.error("crawlhub: item not saved: %s", e)
        else:
            self._inc("items_saved")
        return item

    def close_spider(self, spider):
        flush = self._saver.flush if self._saver is not None else crawlhub.flush
        try:
            flush()
        except SaveError as e:
            self._inc("save_errors")
            spider.logger.error("crawlhub: %s", e)
