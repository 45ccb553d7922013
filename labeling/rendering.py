"""Markdown for untrusted model output: raw HTML is shown as text, never injected, and the
result passes an allow-list sanitiser (nh3) so no script, handler or javascript: link survives."""

import functools
import threading

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


_local = threading.local()


def _converter() -> markdown.Markdown:
    """One converter per thread, reset between uses: building one costs more than converting."""
    md = getattr(_local, "converter", None)
    if md is None:
        md = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
        # Without these two, Markdown passes raw HTML through; removed, it is escaped as text.
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        _local.converter = md
    return md.reset()


def render_markdown(text: str) -> SafeString:
    # Samples and prompts never change and each is shown to several annotators: render once.
    return mark_safe(_render(text or ""))  # noqa: S308 - sanitised by nh3 in _render


@functools.lru_cache(maxsize=4096)
def _render(text: str) -> str:
    html = _converter().convert(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return clean
