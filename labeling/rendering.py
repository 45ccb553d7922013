"""Markdown for untrusted model output, in time linear in its length.

cmark-gfm (C; CommonMark plus GitHub's tables and strikethrough) parses and renders. It is
linear on the classic pathological inputs (runs of brackets, emphasis, backticks, nested quotes,
entities, link and image openers; its own test suite has them), where Python-Markdown took
seconds for a few thousand `[`. Raw HTML is shown as text, never injected: every `<` reaches the
parser as a private-use character and comes back as `&lt;`. The result then passes an allow-list
sanitiser (nh3), so no script, handler or javascript: link survives.

Some shapes are still costly after parsing and are shown as escaped plain text instead
(`plain_text_html`): containers nested deeper than MAX_NESTING (nh3's HTML parser is quadratic in
nesting depth: 20,000 `>` took 1.5 s there) and output of more than MAX_TAGS tags. Tables whose
cells could exceed MAX_TABLE_CELLS (GFM pads every row to the header's width: 6 KB of input made
5 MB of HTML) render without the table extension. Texts longer than settings.INGEST_MAX_TEXT_CHARS,
which ingestion refuses but an admin edit could store, are plain text too. With these bounds the
worst shape found at the default 65,536 characters renders in about 40 ms (tests/labeling/
test_hostile_input.py measures them all).
"""

import hashlib
import re
import threading
from collections import OrderedDict
from itertools import accumulate
from operator import methodcaller
from urllib.parse import quote

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}

# Deeper blockquote/list nesting renders as plain text (cmark itself caps lists at 100 levels).
MAX_NESTING = 100
# An upper bound on the cells the table extension may emit (lines x widest row); above it the
# text renders without tables (the pipes show as text).
MAX_TABLE_CELLS = 20_000
# More tags than this in the parser's output: plain text. nh3 spends about half a microsecond per
# tag, and an empty list item or quote makes two tags per source character or so; prose makes
# one per twenty.
MAX_TAGS = 32_768
# Rendered HTML kept per process (characters); the least recently used goes first.
CACHE_CHARS = 32 * 1024 * 1024

# Safe mode (no raw HTML, no javascript: links); strikethrough only with `~~`, as on GitHub: a
# single `~` ("~5 min") stays text, and runs of single tildes cost the parser more.
_OPTIONS = Options.CMARK_OPT_DEFAULT | Options.CMARK_OPT_STRIKETHROUGH_DOUBLE_TILDE
_SURROGATE = re.compile("[\ud800-\udfff]")
# A line that opens more than MAX_NESTING blockquotes (up to 3 spaces of indent and the optional
# space after each marker): plain text without parsing it.
_DEEP_QUOTE = re.compile(rf"^(?: {{0,4}}>){{{MAX_NESTING + 1}}}", re.MULTILINE)
_CONTAINER = re.compile(r"<(/?)(?:blockquote|ul|ol)[\s>]")
# Characters that cross nh3 in disguise. It is slow on two kinds: character references (about a
# microsecond each: 64 K of `&` took 77 ms) and U+0080..U+00BF, quadratic in the length of a text
# run (64 K of U+00A0 took 100 ms). Each goes through as the private-use character U+10FF00 + its
# code, which nh3 keeps as plain text, and comes back after it as the same reference (or the same
# character). A stand-in only ever turns back into an escaped `&`, `"`, `<`, `>` or a Latin-1
# character, never into markup, so the sanitising is unchanged. `<` of the source takes the same
# stand-in through the parser, which so never sees raw HTML. A text that already holds characters
# of that block is shown as plain text (one from an entity such as `&#x10FF3C;` shows as `<`).
_SHADOW_BASE = 0x10FF00
_SHADOW_BLOCK = re.compile("[\U0010ff00-\U0010ffff]")
_SHADOWED_ENTITIES = {"&amp;": "&", "&quot;": '"', "&lt;": "<", "&gt;": ">"}
_SHADOWED_CHARS = [chr(code) for code in range(0x80, 0xC0)]
_DEPTH_STEP = {"": 1, "/": -1}


def render_markdown(text: str) -> SafeString:
    """Sanitised HTML for one text; the same text is rendered once per process (LRU by size)."""
    text = text or ""
    if not text.isascii():
        # A lone surrogate is not text (and cannot be encoded for the C parser or the response).
        text = _SURROGATE.sub("\ufffd", text)
    key = hashlib.sha256(text.encode("utf-8")).digest()
    html = _cache.get(key)
    if html is None:
        html = _render(text)
        _cache.put(key, html)
    return mark_safe(html)  # noqa: S308 - sanitised by nh3 in _render, or escaped


def plain_text_html(text: str) -> str:
    """The fallback: the text escaped, its line breaks kept by the page's CSS."""
    return f'<div class="plain-text">{escape(text)}</div>'


def _render(text: str) -> str:
    if len(text) > settings.INGEST_MAX_TEXT_CHARS:
        return plain_text_html(text)
    deep = text.count(">") > MAX_NESTING
    if (deep and _DEEP_QUOTE.search(text)) or (not text.isascii() and _SHADOW_BLOCK.search(text)):
        return plain_text_html(text)
    extensions = ["strikethrough"]
    if _table_cells_bound(text) <= MAX_TABLE_CELLS:
        extensions.append("table")
    lt = _shadow("<")
    html = cmarkgfm.markdown_to_html_with_extensions(
        text.replace("<", lt), options=_OPTIONS, extensions=extensions
    )
    if html.count("<") > MAX_TAGS or (deep and _nesting_depth(html) > MAX_NESTING):
        return plain_text_html(text)  # every `<` of the output opens a tag: the source's are stand-ins
    html = html.replace(quote(lt), "%3C")
    for entity, char in _SHADOWED_ENTITIES.items():
        html = html.replace(entity, _shadow(char))
    latin = [char for char in _SHADOWED_CHARS if char in html] if not html.isascii() else []
    for char in latin:
        html = html.replace(char, _shadow(char))
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    for entity, char in _SHADOWED_ENTITIES.items():
        clean = clean.replace(_shadow(char), entity)
    for char in latin:
        clean = clean.replace(_shadow(char), char)
    return clean


def _shadow(char: str) -> str:
    return chr(_SHADOW_BASE + ord(char))


def _table_cells_bound(text: str) -> int:
    """At least the number of cells GFM tables in this text can produce: every row is padded to
    its table's header width, which is at most the pipes of one line plus one."""
    pipes = text.count("|")
    if not pipes:
        return 0
    lines = text.count("\n") + 1
    if lines * (pipes + 1) <= MAX_TABLE_CELLS:
        return lines * (pipes + 1)
    return lines * (max(map(methodcaller("count", "|"), text.split("\n"))) + 1)


def _nesting_depth(html: str) -> int:
    """The deepest blockquote/list nesting in cmark's (always balanced) output; linear."""
    steps = _CONTAINER.findall(html)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, steps)), default=0)


class _SizedLRU:
    """An LRU of rendered HTML bounded by the characters it holds, not by the count."""

    def __init__(self, max_chars: int):
        self.max_chars = max_chars
        self.chars = 0
        self.items: OrderedDict[bytes, str] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: bytes) -> str | None:
        with self.lock:
            value = self.items.get(key)
            if value is not None:
                self.items.move_to_end(key)
            return value

    def put(self, key: bytes, value: str) -> None:
        if len(value) > self.max_chars // 8:
            return  # one huge text must not flush the rest
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.chars += len(value)
            while self.chars > self.max_chars:
                _, old = self.items.popitem(last=False)
                self.chars -= len(old)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.chars = 0


_cache = _SizedLRU(CACHE_CHARS)
cache_clear = _cache.clear
