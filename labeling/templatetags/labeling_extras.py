from django import template
from django.utils.safestring import SafeString

from labeling.rendering import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return render_markdown(text)


@register.filter(name="quality_reason")
def quality_reason_filter(reason: dict) -> str:
    """A judgment's quality reason ({"filter", "detail"}) named for a reviewer: "annotator's position bias"."""
    from labeling.quality.review_selectors import reason_key, reason_label

    return reason_label(reason_key(reason)) if isinstance(reason, dict) else str(reason)


@register.filter(name="quality_reason_detail")
def quality_reason_detail_filter(reason: dict) -> str:
    """The reason's detail without the "annotator: " prefix its name already says."""
    detail = str(reason.get("detail", "")) if isinstance(reason, dict) else ""
    return detail.removeprefix("annotator: ")
