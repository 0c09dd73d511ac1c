"""The report as data: sections of paragraphs, lists, tables, text blocks and pictures, which
:mod:`~im2im_helpers.report.html` and :mod:`~im2im_helpers.report.pdf` render alike."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Paragraph:
    """Plain text (``kind``: ``""``, ``"note"`` for a missing input, ``"warning"``)."""

    text: str
    kind: str = ""


@dataclass
class Bullets:
    """A list of plain-text items."""

    items: list[str]


@dataclass
class Table:
    """Rows of text cells under a header.

    ``marks`` gives a row (by index) a kind the renderers show: ``"headline"`` (the network a
    tutorial is about), ``"baseline"``, ``"input"``; ``emphasis`` names the header of a column
    to set off (the headline metric). ``monospace`` columns (by index) hold codes such as hashes.
    """

    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    marks: dict[int, str] = field(default_factory=dict)
    emphasis: str | None = None
    monospace: tuple[int, ...] = ()


@dataclass
class Code:
    """Text shown as it is (a file's content), with its ``label``."""

    text: str
    label: str = ""


@dataclass
class Picture:
    """A PNG image (its bytes) with a caption."""

    png: bytes
    caption: str


Block = Paragraph | Bullets | Table | Code | Picture


@dataclass
class Section:
    """One part of the report: an ``id`` (the HTML anchor) and a ``title``."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """The whole report: a title, a line under it, the sections in order, and ``meta`` (name ->
    text) recorded in the file's head."""

    title: str
    subtitle: str
    sections: list[Section]
    meta: dict[str, str] = field(default_factory=dict)
