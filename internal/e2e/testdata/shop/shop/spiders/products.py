import scrapy


class ProductsSpider(scrapy.Spider):
    name = "products"

    def __init__(self, start=None, **kw):
        super().__init__(**kw)
        self.start_urls = [start + "/list/0"]

    def parse(self, response):
        for href in response.css("a.product::attr(href)").getall():
            yield response.follow(href, self.product)
        nxt = response.css("a.next::attr(href)").get()
        if nxt:
            yield response.follow(nxt, self.parse)

    def product(self, response):
        yield {
            "name": response.css("h1.name::text").get(),
            "price": float(response.css("p.price::text").get()),
            "url": response.url,
            "meta": {"depth": response.meta.get("depth", 0)},
        }
