"""The served page's URL follows the explorer's state even when the page reports an older URL."""
from __future__ import annotations

import param
from panel.io.location import Location
from panel.util import edit_readonly

from brainmass_widgets._url import UrlFollower

PAGE = "http://localhost:5006/"


class Page:
    """A Panel ``Location`` as the browser drives it, with a clock of scheduled callbacks."""

    def __init__(self, search: str = "?a=0.25") -> None:
        self.location = Location(search=search)
        self.show(search)
        self.sent: list[str] = []
        self.location.param.watch(lambda e: self.sent.append(e.new), "search")
        self.timers: list = []
        self.busy = False

    def show(self, search: str) -> None:
        """The browser shows ``search`` and reports it back (``href`` and ``search`` both)."""
        with edit_readonly(self.location), param.parameterized.discard_events(self.location):
            self.location.search = search
        with edit_readonly(self.location):
            self.location.param.update(href=PAGE + search)

    def follower(self, query: str) -> UrlFollower:
        self.query = query
        return UrlFollower(self.location, lambda: self.query, lambda: self.busy,
                           lambda callback, ms: self.timers.append((callback, ms)))

    def tick(self) -> None:
        timers, self.timers = self.timers, []
        for callback, _ in timers:
            callback()


def test_the_url_follows_and_stops_checking_once_the_page_shows_it():
    page = Page()
    url = page.follower("?a=0.26")
    url.follow()
    assert page.sent == ["?a=0.26"] and url.behind and len(page.timers) == 1
    page.show("?a=0.26")
    page.tick()
    assert page.sent == ["?a=0.26"] and not url.behind and page.timers == []


def test_a_page_that_reports_an_older_url_back_is_sent_the_meant_one_once_no_run_is_busy():
    page = Page("?a=0.25")
    url = page.follower("?a=0.26")
    url.follow()
    page.show("?a=0.26")
    page.query = "?a=0.27"
    url.follow()
    # the older URL arrives last and the page reports it back, into search as well as href
    page.show("?a=0.26")
    assert page.location.search == "?a=0.26" and url.behind
    page.busy = True
    page.tick()
    assert page.sent == ["?a=0.26", "?a=0.27"] and len(page.timers) == 1, "checked again while busy"
    page.busy = False
    page.tick()
    assert page.sent[-1] == "?a=0.27"
    page.show("?a=0.27")
    page.tick()
    assert not url.behind and page.timers == []


def test_the_same_meant_url_is_sent_again_with_a_trailing_field_the_page_ignores():
    page = Page("?a=0.25")
    url = page.follower("?a=0.26")
    url.follow()
    # the page never showed it, and search still holds the meant text: setting it again sends nothing
    with edit_readonly(page.location):
        page.location.param.update(href=PAGE + "?a=0.25")
    page.tick()
    assert page.sent == ["?a=0.26", "?a=0.26&"]
    page.show("?a=0.26&")
    page.tick()
    assert not url.behind and page.timers == []
