"""Small HTML building blocks for the static report pages.

Why hand-written HTML: the pages must open offline from a cluster's file system in any browser,
with no server, no JavaScript and no template engine to install. Every text that comes from data
(experiment names, settings, layer names) goes through `esc`.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from repdyn.config.integers import is_number

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
td { overflow-wrap: anywhere; }
.cards { display: flex; flex-wrap: wrap; gap: 1.5em; } .card { flex: 1 1 440px; min-width: 0; }
.card h3 { margin-bottom: 0.3em; } img.thumb { max-width: 100%; height: auto; border: 1px solid #eee; }
nav.toc ol { columns: 2; margin: 0.3em 0 1em; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.85em; }
pre { background: #f7f7f7; padding: 0.5em; overflow-x: auto; }
nav a { margin-right: 1em; } .note { color: #555; font-size: 0.9em; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: Iterable[str], *, nav: Sequence[tuple[str, str]] = ()) -> str:
    """A whole HTML5 document."""
    links = " ".join(f'<a href="{esc(href)}">{esc(text)}</a>' for text, href in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        + (f"<nav>{links}</nav>\n" if links else "")
        + f"<h1>{esc(title)}</h1>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def heading(text: str, level: int = 2, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<h{level}{ident}>{esc(text)}</h{level}>"


def toc(sections: Sequence[tuple[str, str]]) -> str:
    """A table of contents: (anchor, title) of each section, in page order."""
    items = "".join(f'<li><a href="#{esc(anchor)}">{esc(title)}</a></li>' for anchor, title in sections)
    return f'<nav class="toc"><strong>Contents</strong><ol>{items}</ol></nav>'


def paragraph(text: str, css: str | None = None) -> str:
    return f"<p{f' class={chr(34)}{esc(css)}{chr(34)}' if css else ''}>{esc(text)}</p>"


def link(text: str, href: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (cells already HTML, e.g. links). Numbers align right."""

    def td(value: Any) -> str:
        css = ' class="num"' if is_number(value) else ""
        return f"<td{css}>{value if raw else esc(value)}</td>"

    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(td(v) for v in row) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def figure(src: str, caption: str, *, alt: str, pdf: str | None = None) -> str:
    """An image with a caption and, when there is one, a link to the PDF version."""
    extra = f" ({link('PDF', pdf)})" if pdf else ""
    return (
        f'<figure><a href="{esc(src)}"><img src="{esc(src)}" alt="{esc(alt)}"></a>'
        f"<figcaption>{esc(caption)}{extra}</figcaption></figure>"
    )


def settings_block(title: str, settings: Mapping[str, Any]) -> str:
    """A collapsible pretty-printed JSON block (spec.json contents)."""
    text = json.dumps(settings, indent=2, sort_keys=True)
    return f"<details><summary>{esc(title)}</summary><pre>{esc(text)}</pre></details>"


def relative(target: str | os.PathLike, page_dir: str | os.PathLike) -> str:
    """The link from a page in `page_dir` to `target` (both relative to the working directory or absolute)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(page_dir).resolve())).as_posix()
