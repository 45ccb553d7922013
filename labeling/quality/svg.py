"""Charts as inline SVG built on the server: a histogram, a line chart over time, and horizontal
bars with intervals. No JavaScript; every label is escaped."""

import math
from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 240, 48, 16, 24, 36
COLORS = ("#2f5bd3", "#1f8a4c", "#b42318", "#b54708")


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'class="chart" aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 11, color: str = "#667085") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{color}">{escape(text)}</text>')


def _empty(title: str) -> SafeString:
    return _svg(W, 60, title, [_text(W / 2, 14, title, size=13, color="#1d2330"), _text(W / 2, 40, "no data yet")])


def _round(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def histogram_top(values: Sequence[float], *, clip_quantile: float = 0.98, marker: float | None = None) -> float:
    """Where a histogram's x axis ends: the clip quantile, but no further than a far-out fence
    (Q3 + 3 IQR, at least 2 x Q3), so one task left open over a break cannot squeeze every other
    bar into the first bin; the marker (a floor) always fits. `values` sorted."""
    n = len(values)
    q1, q3 = values[int(0.25 * (n - 1))], values[int(0.75 * (n - 1))]
    fence = max(q3 + 3 * (q3 - q1), 2 * q3)
    return max(min(values[min(n - 1, int(n * clip_quantile))], fence), marker or 0.0, 1e-9)


def histogram(values: Sequence[float], *, title: str, x_label: str, bins: int = 30,
              clip_quantile: float = 0.98, marker: float | None = None) -> SafeString:
    """Counts of values in equal bins from 0 to histogram_top; values beyond it go in the last bar,
    drawn in another colour, and the chart says how many and up to what."""
    values = sorted(v for v in values if v is not None and math.isfinite(v))
    if not values:
        return _empty(title)
    top = histogram_top(values, clip_quantile=clip_quantile, marker=marker)
    over = sum(1 for v in values if v > top)
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int(max(v, 0.0) / top * bins))] += 1
    peak = max(counts)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    bar_w = plot_w / bins
    body = [_text(W / 2, 14, title, size=13, color="#1d2330")]
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        color = COLORS[3] if over and i == bins - 1 else COLORS[0]
        body.append(f'<rect x="{PAD_L + i * bar_w + 1:.1f}" y="{PAD_T + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                    f'height="{h:.1f}" fill="{color}"><title>{count}</title></rect>')
    if marker is not None:
        x = PAD_L + plot_w * min(marker / top, 1.0)
        body.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_T}" y2="{PAD_T + plot_h}" stroke="{COLORS[2]}" '
                    'stroke-dasharray="4 3"/>')
        body.append(_text(x + 4, PAD_T + 10, f"floor {marker:g}", anchor="start", color=COLORS[2]))
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        label = f"{top * frac:.3g}"
        body.append(_text(PAD_L + plot_w * frac, H - PAD_B + 14, f"≥{label}" if over and frac == 1.0 else label,
                          anchor="end" if frac == 1.0 else "middle"))
    if over:
        body.append(_text(W - PAD_R, PAD_T + 10, f"clipped: {over} over {top:.3g} (up to {_round(values[-1])}) "
                          "in the last bar", anchor="end", color=COLORS[3]))
    body.append(_text(PAD_L - 6, PAD_T + 8, str(peak), anchor="end"))
    body.append(_text(W / 2, H - 4, x_label))
    return _svg(W, H, title, body)


def line_chart(x_labels: Sequence[str], series: dict[str, Sequence[float | None]], *, title: str,
               y_min: float | None = None, y_max: float | None = None, x_values: Sequence[float] | None = None,
               y_format: str = ".2f") -> SafeString:
    """One polyline per series over the same x positions: evenly spaced, or placed by ``x_values``
    (e.g. training steps, which a run logs at uneven intervals); gaps where a value is missing.
    Each point's tooltip gives its x label and value."""
    known = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    if not x_labels or not known:
        return _empty(title)
    lo = min(known) if y_min is None else min(y_min, min(known))
    hi = max(known) if y_max is None else max(y_max, max(known))
    hi = hi if hi > lo else lo + 1.0
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    step = plot_w / max(1, len(x_labels) - 1)
    x_lo = x_values[0] if x_values else 0.0
    x_span = (x_values[-1] - x_lo) if x_values else 0.0

    def xy(i: int, v: float) -> tuple[float, float]:
        x = PAD_L + plot_w * (x_values[i] - x_lo) / x_span if x_span > 0 else PAD_L + i * step
        return x, PAD_T + plot_h * (1 - (v - lo) / (hi - lo))

    body = [_text(W / 2, 14, title, size=13, color="#1d2330")]
    for frac in (0, 0.5, 1.0):
        y = PAD_T + plot_h * (1 - frac)
        body.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d7dce5"/>')
        body.append(_text(PAD_L - 6, y + 4, format(lo + (hi - lo) * frac, y_format), anchor="end"))
    for n, (name, ys) in enumerate(series.items()):
        color = COLORS[n % len(COLORS)]
        known_at = [(i, v) for i, v in enumerate(ys) if v is not None and math.isfinite(v)]
        points = [xy(i, v) for i, v in known_at]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        body.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(name)} at '
                    f'{escape(x_labels[i])}: {v:.4g}</title></circle>'
                    for (x, y), (i, v) in zip(points, known_at, strict=True))
        body.append(_text(PAD_L + 10 + n * 150, H - 4, f"■ {name}", anchor="start", color=color))
    body.append(_text(PAD_L, H - PAD_B + 14, x_labels[0], anchor="start"))
    if len(x_labels) > 1:
        body.append(_text(W - PAD_R, H - PAD_B + 14, x_labels[-1], anchor="end"))
    return _svg(W, H, title, body)


def bars(rows: Sequence[tuple[str, float | None, float | None, float | None]], *, title: str,
         reference: float | None = None, lo: float = 0.0, hi: float = 1.0) -> SafeString:
    """Horizontal bars, one per (label, value, low, high); the interval drawn as a whisker and an
    optional reference line (e.g. 0.5 for an unbiased left rate)."""
    rows = [r for r in rows if r[1] is not None and math.isfinite(r[1])]
    if not rows:
        return _empty(title)
    row_h, label_w = 18, 140
    height = PAD_T + row_h * len(rows) + 28
    plot_w = W - label_w - PAD_R

    def x(v: float) -> float:
        return label_w + plot_w * (min(max(v, lo), hi) - lo) / (hi - lo)

    body = [_text(W / 2, 14, title, size=13, color="#1d2330")]
    for i, (label, value, low, high) in enumerate(rows):
        y = PAD_T + i * row_h
        body.append(_text(label_w - 6, y + 12, label[:22], anchor="end", color="#1d2330"))
        body.append(f'<rect x="{label_w}" y="{y + 3:.1f}" width="{x(value) - label_w:.1f}" height="{row_h - 6}" '
                    f'fill="{COLORS[0]}" opacity=".75"><title>{escape(label)}: {value:.3f}</title></rect>')
        if low is not None and high is not None:
            body.append(f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y + row_h / 2:.1f}" '
                        f'y2="{y + row_h / 2:.1f}" stroke="#1d2330" stroke-width="1.5"/>')
    if reference is not None:
        body.append(f'<line x1="{x(reference):.1f}" x2="{x(reference):.1f}" y1="{PAD_T}" '
                    f'y2="{height - 24}" stroke="{COLORS[2]}" stroke-dasharray="4 3"/>')
    for frac in (0, 0.5, 1.0):
        body.append(_text(label_w + plot_w * frac, height - 8, f"{lo + (hi - lo) * frac:g}"))
    return _svg(W, height, title, body)
