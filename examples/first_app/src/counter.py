"""The counter service: hits per page, kept in its process by an ``actors.Server``."""

import actors
import registry

log = actors.get_logger("app.counter")


class Counter(actors.Server):
    """Counts hits per page name; at most ``max_pages`` names."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self.hits: dict[str, int] = {}

    async def on_start(self) -> None:
        log.info("Counter ready", max_pages=self.max_pages)

    async def handle_call(self, msg: actors.Message) -> object:
        try:
            return self.answer(msg.topic, msg.payload)
        except ValueError as error:  # a bad request fails that call only
            self.proc.reply_error(msg, error)
            return actors.NOREPLY

    def answer(self, topic: str, page: object) -> object:
        if topic == "top":  # the ten most visited pages, most first
            return sorted(self.hits.items(), key=lambda item: (-item[1], item[0]))[:10]
        if topic not in ("hit", "count"):
            raise ValueError(f"unknown topic {topic!r}: use hit, count or top")
        if not isinstance(page, str) or not 1 <= len(page) <= 100:
            raise ValueError(f"a page is a string of 1 to 100 characters, got {page!r}")
        if topic == "count":
            return self.hits.get(page, 0)
        if page not in self.hits and len(self.hits) >= self.max_pages:
            raise ValueError(f"{self.max_pages} pages counted already (COUNTER_MAX_PAGES)")
        self.hits[page] = self.hits.get(page, 0) + 1
        return self.hits[page]


async def main(proc: actors.Process) -> None:
    max_pages = registry.current_app(proc).env.get("COUNTER_MAX_PAGES")
    await actors.serve(proc, Counter(max_pages))
