"""Remote content in an email's HTML body: what a mail program would fetch from elsewhere
by itself, and whether the operator allows it."""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

# Remote content in an HTML body (an image, a style sheet, a frame from another site) is
# fetched by the reader's mail program when the message is opened: it tells that site who
# read which document when, and can show something else than what was sent. Refused unless
# the operator allows it (PYQ_EMAIL_ALLOW_REMOTE_CONTENT); the app's ready() sets this hook,
# which the step reads as ``remote.remote_content_allowed`` at each call.
remote_content_allowed: Callable[[], bool] = lambda: False  # noqa: E731

# Elements that load or run something by themselves, whatever their attributes.
ACTIVE_TAGS = frozenset(
    {
        "script",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "link",
        "base",
        "meta",
        "portal",
        "noscript",
        "template",
        "import",
    }
)
# Attributes whose value a mail program fetches without a click.
LOADING_ATTRIBUTES = frozenset(
    {
        "src",
        "srcset",
        "background",
        "poster",
        "data",
        "dynsrc",
        "lowsrc",
        "codebase",
        "archive",
        "manifest",
        "longdesc",
        "icon",
        "profile",
        "ping",
        "xlink:href",
        "imagesrcset",
    }
)
LINK_TAGS = frozenset({"a", "area"})  # their href is followed only when a person clicks
EMBEDDED = ("data:", "cid:", "#")  # inside the message itself
CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)
CSS_URL_START = re.compile(r"url\(", re.IGNORECASE)
CSS_LOADERS = re.compile(r"@import|image-set\(|image\(|expression\(|behavior", re.IGNORECASE)


class _RemoteContentFinder(HTMLParser):
    """Finds the first element, attribute or style in an HTML body that a mail program
    would fetch from elsewhere by itself; conditional comments (read by Outlook) too."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: str | None = None
        self._in_style = False

    def _note(self, what: str) -> None:
        if self.found is None:
            self.found = what

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag in ACTIVE_TAGS:
            self._note(f"a <{tag}> element")
        self._in_style = tag == "style"
        for name, value in attrs:
            name, value = name.lower(), (value or "").strip()
            if name.startswith("on"):
                self._note(f"the {name} attribute of <{tag}>")
            elif name == "style":
                self._check_css(value, f"the style of <{tag}>")
            elif (name in LOADING_ATTRIBUTES or (name == "href" and tag not in LINK_TAGS)) and (
                not _embedded(value) or name.endswith("srcset")
            ):
                self._note(f'<{tag} {name}="{_short(value)}">')

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._check_css(data, "a <style> element")

    def handle_comment(self, data: str) -> None:
        if "[if" in data.lower() or "<" in data:
            inner = remote_content(data.split("]>", 1)[-1])
            if inner:
                self._note(f"{inner} in a conditional comment")

    def _check_css(self, css: str, where: str) -> None:
        css = CSS_COMMENT.sub("", css)
        if "\\" in css or CSS_LOADERS.search(css):
            self._note(f"{where} ({_short(css)})")
            return
        urls = CSS_URL.findall(css)
        if len(urls) != len(CSS_URL_START.findall(css)):  # one left open runs to the end
            self._note(f"{where} ({_short(css)})")
        for _quote, url in urls:
            if not _embedded(url.strip()):
                self._note(f"{where} (url({_short(url)}))")


def _embedded(value: str) -> bool:
    """Whether ``value`` points inside the message itself (or nowhere)."""
    return value == "" or value.lower().startswith(EMBEDDED)


def _short(value: str) -> str:
    """``value`` on one line, cut to 80 characters, for a message."""
    value = " ".join(value.split())
    return value if len(value) <= 80 else value[:77] + "..."


def remote_content(body: str) -> str | None:
    """What in ``body`` (HTML) a mail program would fetch from elsewhere, or None."""
    finder = _RemoteContentFinder()
    finder.feed(body)
    finder.close()
    return finder.found


def remote_content_message(found: str) -> str:
    """Why a body with ``found`` (what remote_content returned) is refused, and what to do."""
    return (
        f"it loads content from elsewhere ({found}). Mail from Pyq may not load images, "
        "styles, frames or scripts from other sites; put images in as data: addresses or "
        "link to them instead."
    )
