"""A :class:`~im2im_helpers.report.document.Document` as one self-contained HTML page: inline
style, pictures as ``data:`` URIs, every text escaped; no link to anything outside the file."""

from __future__ import annotations

import base64
from html import escape

from im2im_helpers.report.document import (
    Block,
    Bullets,
    Code,
    Document,
    Paragraph,
    Picture,
    Section,
    Table,
)

#: Symbols before the marked rows of a table (also explained in the metrics section).
MARKS = {"headline": "★ ", "baseline": "◆ ", "input": "○ "}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto;
       max-width: 70em; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #555; margin-top: 0; }
nav ol { columns: 2; } section { border-top: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } caption { caption-side: top; text-align: left; color: #555; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.headline { background: #e6f4ea; font-weight: 600; } tr.baseline { background: #fff4e0; }
tr.input { color: #666; } .emphasis { background: #eef3ff; }
.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.85em;
        word-break: break-all; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto; }
p.note { background: #f5f5f5; border-left: 4px solid #999; padding: 0.4em 0.8em; }
p.warning { background: #fdecea; border-left: 4px solid #c0392b; padding: 0.4em 0.8em; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
""".strip()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _class(names: str) -> str:
    """`` class="names"`` for a tag, or nothing."""
    return f' class="{escape(names)}"' if names else ""


def table(t: Table) -> str:
    """A table, its marked rows with a class and a symbol, numbers aligned right."""
    emphasis = t.header.index(t.emphasis) if t.emphasis in t.header else None
    head = "".join(f"<th{_class('emphasis' if i == emphasis else '')}>{escape(h)}</th>"
                   for i, h in enumerate(t.header))
    rows = []
    for r, row in enumerate(t.rows):
        mark = t.marks.get(r, "")
        cells = []
        for i, cell in enumerate(row):
            classes = [c for c, on in (("num", _is_number(cell)), ("mono", i in t.monospace),
                                       ("emphasis", i == emphasis)) if on]
            text = (MARKS.get(mark, "") if i == 0 else "") + cell
            cells.append(f"<td{_class(' '.join(classes))}>{escape(text)}</td>")
        rows.append(f"<tr{_class(mark)}>{''.join(cells)}</tr>")
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    header = f"<thead><tr>{head}</tr></thead>" if any(t.header) else ""
    return f"<table>{caption}{header}<tbody>{''.join(rows)}</tbody></table>"


def block(b: Block) -> str:
    """One block as HTML."""
    if isinstance(b, Paragraph):
        return f"<p{_class(b.kind)}>{escape(b.text)}</p>"
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in b.items) + "</ul>"
    if isinstance(b, Table):
        return table(b)
    if isinstance(b, Code):
        label = f"<p class=\"mono\">{escape(b.label)}</p>" if b.label else ""
        return f"{label}<pre>{escape(b.text)}</pre>"
    if isinstance(b, Picture):
        data = base64.b64encode(b.png).decode("ascii")
        return (f'<figure><img src="data:image/png;base64,{data}" alt="{escape(b.caption)}">'
                f"<figcaption>{escape(b.caption)}</figcaption></figure>")
    raise TypeError(f"{type(b).__name__}: not a block of a report document.")


def section(s: Section) -> str:
    """A section as ``<section id=...>`` with its ``<h2>``."""
    body = "\n".join(block(b) for b in s.blocks)
    return f'<section id="{escape(s.id)}">\n<h2>{escape(s.title)}</h2>\n{body}\n</section>'


def render(doc: Document) -> str:
    """The whole page as text (UTF-8 declared)."""
    meta = "\n".join(f'<meta name="{escape(k)}" content="{escape(v)}">'
                     for k, v in doc.meta.items())
    toc = "".join(f'<li><a href="#{escape(s.id)}">{escape(s.title)}</a></li>'
                  for s in doc.sections)
    body = "\n".join(section(s) for s in doc.sections)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{meta}\n"
            f"<title>{escape(doc.title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n"
            f"<h1>{escape(doc.title)}</h1>\n<p class=\"subtitle\">{escape(doc.subtitle)}</p>\n"
            f"<nav><ol>{toc}</ol></nav>\n{body}\n</body>\n</html>\n")
