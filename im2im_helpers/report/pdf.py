"""A :class:`~im2im_helpers.report.document.Document` as a PDF, drawn with matplotlib alone
(no system library, works offline): text, tables as aligned monospace text, the same
pictures; A4 pages, each section's text flowing on from the previous one."""

from __future__ import annotations

import datetime
import io
import textwrap

import matplotlib.image as mpimg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

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

PAGE = (8.27, 11.69)  # A4, inches
MARGIN = 0.7
WIDTH = PAGE[0] - 2 * MARGIN
#: Characters per line of body text (9 pt) and of monospace text (7 pt) across the page.
TEXT_CHARS, MONO_CHARS = 100, 118
SIZES = {"title": 16, "heading": 13, "text": 9, "mono": 7, "caption": 8}
COLOURS = {"note": "#555555", "warning": "#b03020", "": "#222222"}
MARKS = {"headline": "★ ", "baseline": "◆ ", "input": "○ "}


def _line_height(size: float) -> float:
    return size * 1.4 / 72


class Pages:
    """Writes text and pictures down A4 pages, starting a new page when one is full."""

    def __init__(self, pdf: PdfPages):
        self.pdf = pdf
        self.fig: Figure | None = None
        self.y = 0.0  # inches from the top of the page

    def new_page(self) -> None:
        self.close_page()
        self.fig = Figure(figsize=PAGE)
        self.y = MARGIN

    def close_page(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)
            self.fig = None

    def room(self, height: float) -> None:
        """Start a new page unless ``height`` inches still fit on this one."""
        if self.fig is None or self.y + height > PAGE[1] - MARGIN:
            self.new_page()

    def line(self, text: str, size: float, *, mono: bool = False, bold: bool = False,
             colour: str = "#222222", indent: float = 0.0) -> None:
        height = _line_height(size)
        self.room(height)
        self.fig.text((MARGIN + indent) / PAGE[0], 1 - self.y / PAGE[1], text, fontsize=size,
                      family="monospace" if mono else "sans-serif",
                      weight="bold" if bold else "normal", color=colour, va="top",
                      parse_math=False)
        self.y += height

    def gap(self, inches: float) -> None:
        self.y += inches

    def picture(self, png: bytes) -> None:
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        h, w = pixels.shape[:2]
        width = min(WIDTH, w / 100)
        height = width * h / w
        limit = PAGE[1] - 2 * MARGIN - 0.5
        if height > limit:
            height, width = limit, limit * w / h
        self.room(height)
        ax = self.fig.add_axes([MARGIN / PAGE[0], 1 - (self.y + height) / PAGE[1],
                                width / PAGE[0], height / PAGE[1]])
        ax.imshow(pixels, interpolation="antialiased")
        ax.set_axis_off()
        self.y += height + 0.05


def _wrap(text: str, chars: int, indent: str = "") -> list[str]:
    lines = []
    for paragraph in str(text).splitlines() or [""]:
        lines += textwrap.wrap(paragraph, chars, subsequent_indent=indent,
                               break_long_words=True, replace_whitespace=False) or [""]
    return lines


def column_widths(table: Table, rows: list[list[str]], total: int = MONO_CHARS) -> list[int]:
    """Characters per column: their natural widths, the widest narrowed until they fit."""
    columns = max(len(table.header), *(len(r) for r in rows)) if rows else len(table.header)
    widths = [max([len(h) for h in table.header[i:i + 1]] + [len(r[i]) for r in rows
                                                              if i < len(r)] + [1])
              for i in range(columns)]
    budget = total - 3 * (columns - 1)
    while sum(widths) > budget and max(widths) > 8:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    return widths


def _table(pages: Pages, t: Table) -> None:
    if t.caption:
        for line in _wrap(t.caption, TEXT_CHARS):
            pages.line(line, SIZES["caption"], colour=COLOURS["note"])
    rows = [[(MARKS.get(t.marks.get(r, ""), "") if i == 0 else "") + c
             for i, c in enumerate(row)] for r, row in enumerate(t.rows)]
    widths = column_widths(t, rows)
    body = ([t.header] if any(t.header) else []) + rows
    for r, row in enumerate(body):
        cells = [textwrap.wrap(c, w, break_long_words=True) or [""]
                 for c, w in zip(row + [""] * (len(widths) - len(row)), widths)]
        bold = r == 0 and any(t.header)
        mark = t.marks.get(r - (1 if any(t.header) else 0), "")
        for k in range(max(len(c) for c in cells)):
            text = " | ".join((c[k] if k < len(c) else "").ljust(w)
                              for c, w in zip(cells, widths))
            pages.line(text.rstrip(), SIZES["mono"], mono=True, bold=bold or mark == "headline")
    pages.gap(0.08)


def block(pages: Pages, b: Block) -> None:
    """Draw one block."""
    if isinstance(b, Paragraph):
        prefix = {"note": "Note: ", "warning": "Warning: "}.get(b.kind, "")
        for line in _wrap(prefix + b.text, TEXT_CHARS):
            pages.line(line, SIZES["text"], colour=COLOURS.get(b.kind, COLOURS[""]))
        pages.gap(0.06)
    elif isinstance(b, Bullets):
        for item in b.items:
            for k, line in enumerate(_wrap(item, TEXT_CHARS - 3)):
                pages.line(("• " if k == 0 else "  ") + line, SIZES["text"], indent=0.1)
        pages.gap(0.06)
    elif isinstance(b, Table):
        _table(pages, b)
    elif isinstance(b, Code):
        if b.label:
            pages.line(b.label, SIZES["caption"], colour=COLOURS["note"])
        for line in _wrap(b.text, MONO_CHARS, "    "):
            pages.line(line, SIZES["mono"], mono=True)
        pages.gap(0.06)
    elif isinstance(b, Picture):
        pages.picture(b.png)
        for line in _wrap(b.caption, TEXT_CHARS):
            pages.line(line, SIZES["caption"], colour=COLOURS["note"])
        pages.gap(0.1)
    else:
        raise TypeError(f"{type(b).__name__}: not a block of a report document.")


def section(pages: Pages, s: Section) -> None:
    """A section: its title (kept with at least a few lines of what follows), its blocks."""
    pages.room(1.0)
    pages.gap(0.1)
    pages.line(s.title, SIZES["heading"], bold=True)
    pages.gap(0.05)
    for b in s.blocks:
        block(pages, b)


def render(doc: Document) -> bytes:
    """The whole report as PDF bytes."""
    buffer = io.BytesIO()
    info = {"Title": doc.title, "Creator": doc.meta.get("generator", "im2im_helpers"),
            "CreationDate": datetime.datetime.now(datetime.timezone.utc)}
    with PdfPages(buffer, metadata=info) as pdf:
        pages = Pages(pdf)
        pages.new_page()
        for line in _wrap(doc.title, 70):
            pages.line(line, SIZES["title"], bold=True)
        for line in _wrap(doc.subtitle, TEXT_CHARS):
            pages.line(line, SIZES["caption"], colour=COLOURS["note"])
        for s in doc.sections:
            section(pages, s)
        pages.close_page()
    return buffer.getvalue()
