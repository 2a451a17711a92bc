"""The monthly themes report for leads: one self-contained HTML file (inline CSS and SVG) and Markdown.

The HTML and the `/themes/{month}` page render the same partial (`templates/themes/digest.html`)
from a `theme_digest.MonthDigest`; nothing is fetched from elsewhere, so the file can be mailed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from serving.theme_digest import MonthDigest, SentimentShift, VolumeSeries, share_of

TEMPLATES = Path(__file__).parent / "templates" / "themes"
SECTION_LIMIT = 5
# Colour-blind-safe (Okabe-Ito) series colours; "other" is grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
OTHER = "#9AA4AE"


def pct(value: float | None) -> str:
    """0.123 -> '12%' (one decimal under 10%)."""
    if value is None:
        return "–"
    return f"{value:.1%}" if abs(value) < 0.1 else f"{value:.0%}"


def points(value: float) -> str:
    """A share difference in signed percentage points: 0.052 -> '+5 pts'."""
    return f"{round(value * 100):+d} pts"


def _markdown_text(value: Any) -> str:
    """Text safe inside a Markdown table cell or list item."""
    text = " ".join(str(value).split())
    for char in "\\|*_`[]<>#":
        text = text.replace(char, "\\" + char)
    return text


def environment() -> Environment:
    """The Jinja2 environment of the themes templates; HTML templates autoescape."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _markdown_text
    env.globals.update(pct=pct, points=points, share=share_of, limit=SECTION_LIMIT, sentiment_by_id=_by_id)
    return env


def _by_id(shifts: Sequence[SentimentShift]) -> dict[str, SentimentShift]:
    return {s.theme_id: s for s in shifts}


def volume_chart(months: Sequence[str], series: Sequence[VolumeSeries], width: int = 720) -> Markup:
    """An inline SVG stacked-bar chart of messages per theme per month, with a legend."""
    if not months or not series:
        return Markup('<p class="none">No volume to chart.</p>')
    legend_width, top, bottom, left = 200, 16, 28, 44
    plot_w, plot_h = width - legend_width - left, 220
    height = top + plot_h + bottom
    totals = [sum(s.sizes[i] for s in series) for i in range(len(months))]
    peak = max(max(totals), 1)
    step = plot_w / len(months)
    bar = min(56.0, step * 0.6)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Messages per theme per month, {escape(months[0])} to {escape(months[-1])}">'
    ]
    for tick in (0, peak // 2, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#59636e">{tick}</text>'
        )
    for i, month in enumerate(months):
        x = left + step * i + (step - bar) / 2
        y = top + plot_h
        for n, s in enumerate(series):
            size = s.sizes[i]
            if not size:
                continue
            h = plot_h * size / peak
            y -= h
            colour = OTHER if s.theme_id is None else PALETTE[n % len(PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(s.label)}, {escape(month)}: {size}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 18}" font-size="11" text-anchor="middle" '
            f'fill="#59636e">{escape(month)}</text>'
        )
    for n, s in enumerate(series):
        y = top + 4 + n * 20
        colour = OTHER if s.theme_id is None else PALETTE[n % len(PALETTE)]
        label = s.label if len(s.label) <= 28 else s.label[:27] + "…"
        parts.append(f'<rect x="{width - legend_width + 12}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(
            f'<text x="{width - legend_width + 30}" y="{y + 10}" font-size="12" fill="#1f2328">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def styles() -> Markup:
    """The report's CSS, for an inline `<style>` element."""
    return Markup((TEMPLATES / "styles.css").read_text(encoding="utf-8"))


def render_digest(digest: MonthDigest, env: Environment | None = None) -> Markup:
    """The digest's sections as an HTML fragment (for the web page)."""
    env = env or environment()
    html = env.get_template("digest.html").render(digest=digest, chart=volume_chart(digest.months, digest.volume))
    return Markup(html)


def render_html(digest: MonthDigest) -> str:
    """The whole report as one HTML document with no external assets."""
    env = environment()
    return env.get_template("report.html").render(
        digest=digest, chart=volume_chart(digest.months, digest.volume), styles=styles()
    )


def render_markdown(digest: MonthDigest) -> str:
    """The report as Markdown, for the body of an email."""
    return environment().get_template("report.md").render(digest=digest)


def write_report(digest: MonthDigest, out_dir: Path) -> tuple[Path, Path]:
    """Write `themes-YYYY-MM.html` and `.md` under `out_dir` (created if missing); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html = out_dir / f"themes-{digest.month}.html"
    markdown = out_dir / f"themes-{digest.month}.md"
    html.write_text(render_html(digest), encoding="utf-8")
    markdown.write_text(render_markdown(digest), encoding="utf-8")
    return html, markdown
