"""Numbers quoted in the notebooks' prose and the README come from the runs recorded in
``results/``.

The rule a writer follows (``results/README.md`` repeats it):

* **Scope.** A Markdown paragraph that says *full run* quotes ``results/full/NAME.json``, one that
  says *default run* quotes ``results/default/NAME.json`` — NAME being the notebook's own
  tutorial (in the README: the tutorial named last before the number, as ```NN_name```). The phrase
  may stand anywhere in the paragraph; when a paragraph names both, each phrase scopes the numbers
  after it (those before the first phrase take the first phrase's level).
* **Every decimal number of a scoped paragraph is a result** and must be a recorded value at the
  precision it is quoted with (``0.835`` for 0.83465, ``about 0.7`` for 0.69), of the *metric* named
  nearest before it in its sentence (or right after it: ``5.0 merges``, ``30.3 dB``; else nearest
  before it in the paragraph), of one of the *methods* the paragraph names up to the end of that
  sentence (any method when it names none). A whole number is a result only when followed by
  ``dB`` (``about 33 dB``).
* **Not results**, and never checked: numbers in code spans (```MASK_FRACTION = 0.002```), in metric
  names (``AP@0.5``), after a comparison (``IoU ≥ 0.5``, ``σ = 0``) or a Greek symbol (``σ 1.5``),
  and numbers followed by a unit of a setting (``0.124 µm``, ``0.25 cycles per pixel``,
  ``10 photons``, ``5 %``). Any other constant does not belong in a results paragraph: move it to
  another paragraph or write it as code.
* **Differences** are allowed only as ``by X`` (``beats the threshold by 0.029 in Dice``): X must be
  a recorded value or the difference of two recorded values of the named metric.
* **Unscoped results are errors**: outside a scoped paragraph, a number with two or more decimals
  that follows a metric name (``Dice 0.899``) or ends in ``dB`` is reported as quoted without
  saying which run it comes from.

The README's results table is not prose: :func:`readme_table` generates it from the records and
:func:`write_readme_table` puts it between the markers :data:`TABLE_START` and :data:`TABLE_END`.

``python -m im2im_helpers.dev.quoted`` prints every violation (exit status 1 when there is one);
``--write-readme`` regenerates the README's table first.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LEVELS = ("full", "default")
SCOPE = re.compile(r"\b(full|default)(?:-level)?\s+runs?\b", re.IGNORECASE)

#: Prose that names a metric -> the record keys it stands for (a regular expression over keys).
METRICS: tuple[tuple[str, str], ...] = (
    (r"matched\s+IoU", r"^matched_iou$"),
    (r"AP@0\.50?\b", r"^ap50$"),
    (r"AP@0\.75\b", r"^ap75$"),
    (r"AP@0\.90?\b", r"^ap90$"),
    (r"\bAP\b(?!@)", r"^ap\d+$"),
    (r"\bIoU\b", r"(^|_)iou$"),
    (r"\bPearson(?:\s+r)?\b|(?<![\w`'’-])r\b(?![\w'’-])", r"^pearson$"),
    (r"\bSSIM\b", r"^ssim$"),
    (r"\bPSNR\b", r"^psnr$"),
    (r"\bNRMSE\b", r"^nrmse$"),
    (r"\bDice\b", r"(^|_)dice$"),
    (r"\bcheckerboard(?:\s+ratio)?\b", r"^checkerboard$"),
    (r"\bEPE\b|\bendpoint\s+error\b", r"^epe$"),
    (r"\bNCC\b", r"^ncc$"),
    (r"\bfolding(?:\s+fraction)?\b|\bfolds\s+a\s+fraction\b", r"^folding$"),
    (r"\b[Cc]ross-validation\b", r"^cv_mean$"),
    (r"\bmerges?\b", r"^merges$"),
    (r"\bsplits?\b", r"^splits$"),
    (r"\bhf_ratio\b|\bfine[-\s]detail(?:\s+ratio)?\b", r"^hf_ratio$"),
    (r"\bintensity\s+distance\b", r"^intensity_distance$"),
    (r"\bSpearman(?:\s+ρ)?\b", r"^spearman$"),
    (r"\brelative[_\s]ause\b", r"^relative_ause$"),
    (r"\bAURG\b|\baurg\b", r"^aurg$"),
    (r"\bnumber\s+of\s+objects\b|\bobjects\s+per\s+image\b|\bcount\s+error\b", r"^count_error$"),
)
_METRIC = re.compile("|".join(f"(?P<m{i}>{p})" for i, (p, _) in enumerate(METRICS)))

#: Prose names of methods that their record key does not spell (the key itself, with or without
#: underscores, and its first part of four letters or more always name it).
ALIASES: Mapping[str, str] = {
    "3-class": "three_class", "non-local means": "nl_means", "linear": "ridge",
    "colour model": "ridge", "Richardson": "richardson_lucy", "threshold": "otsu",
}

#: Units of settings, not results: a number followed by one of them is never checked.
SETTING_UNITS = re.compile(
    r"\s*(?:µm|um|nm|mm|px\b|pixels?\b|voxels?\b|cycles?\b|photons?\b|%|×|frames?\b|epochs?\b"
    r"|steps?\b|s\b|seconds?\b|min\b|minutes?\b|hours?\b|MB\b|GB\b|iterations?\b)")
NUMBER = re.compile(r"(?<![\w.@/])([-−]?\d+\.\d+|\d+)(?![\w.]*\w)")
PARAMETER_BEFORE = re.compile(r"(?:[≥≤<>=≠]|[α-ωΑ-Ω])\s*$")
BY_BEFORE = re.compile(r"\bby\s+(?:about\s+)?$")
DB_AFTER = re.compile(r"\s*dB\b")
CODE = re.compile(r"```.*?```|`[^`\n]*`|\$[^$\n]+\$", re.DOTALL)
LINK_TARGET = re.compile(r"\]\([^)]*\)|<[^>]+>")
SENTENCE_END = re.compile(r"[.!?;:](?=\s+[A-Z*(_`])|\n\s*\n")
TUTORIAL = re.compile(r"\b(\d\d_[a-z0-9_]+)\b")

TABLE_START = ("<!-- results table: generated from results/ by "
               "`python -m im2im_helpers.dev.quoted --write-readme`; do not edit by hand -->")
TABLE_END = "<!-- end of results table -->"


@dataclass(frozen=True)
class Violation:
    """One quoted number that its record does not back.

    Attributes
    ----------
    file : str
        The notebook or README, relative to the repository root.
    cell : int or None
        The index of the notebook cell (``None`` in the README).
    number : str
        The number as quoted.
    context : str
        The text around it.
    expected : str
        What the rule looked for, and the record's candidate values.
    """

    file: str
    cell: int | None
    number: str
    context: str
    expected: str

    def __str__(self) -> str:
        where = self.file if self.cell is None else f"{self.file} cell {self.cell}"
        return f"{where}: {self.number!r} in “…{self.context}…”: {self.expected}"


@dataclass(frozen=True)
class Quote:
    """A number of a paragraph with what the rule ties it to.

    Attributes
    ----------
    number : str
        The number as written.
    start : int
        Its offset in the (code-blanked) paragraph.
    level : str or None
        ``"full"`` or ``"default"`` in a scoped paragraph, ``None`` outside one.
    metric : str or None
        The key pattern (:data:`METRICS`) of the metric it belongs to, ``None`` for any.
    metric_named : str
        The prose that named that metric (empty for any).
    methods : tuple of str
        The method names the paragraph gives up to the end of its sentence (normalised).
    difference : bool
        Quoted as ``by X``: a value or a difference of two values.
    """

    number: str
    start: int
    level: str | None
    metric: str | None
    metric_named: str
    methods: tuple[str, ...]
    difference: bool


def normalise(text: str) -> str:
    """Lower-case letters and digits only: how method names are compared (``Otsu + watershed``
    and ``otsu_watershed`` both give ``otsuwatershed``)."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def blank_code(text: str) -> str:
    """``text`` with code spans, fenced blocks, math and link targets replaced by spaces (their
    numbers are not quotes; offsets stay those of ``text``). Metric names in code spans
    (```hf_ratio```) are kept."""
    def blank(match: re.Match) -> str:
        kept = re.fullmatch(r"`(hf_ratio)`", match.group(0))
        return f" {kept.group(1)} " if kept else re.sub(r"[^\n]", " ", match.group(0))
    return LINK_TARGET.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), CODE.sub(blank, text))


def paragraphs(markdown: str) -> list[str]:
    """The paragraphs of a Markdown text (split at blank lines; fenced code stays whole)."""
    out, current, fenced = [], [], False
    for line in markdown.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                out.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        out.append("\n".join(current))
    return out


def sentence_bounds(text: str, position: int) -> tuple[int, int]:
    """Start and end offsets of the sentence of ``text`` holding ``position``."""
    start, end = 0, len(text)
    for match in SENTENCE_END.finditer(text):
        if match.end() <= position:
            start = match.end()
        elif match.start() >= position:
            end = match.end()
            break
    return start, end


def parentheses(text: str) -> list[tuple[int, int]]:
    """``(open, close)`` offsets of the parenthesised asides of ``text``: a metric named in an
    aside that closed before a number is not that number's metric (``Dice 0.899 (IoU 0.817),
    against 0.870``)."""
    spans, stack = [], []
    for i, char in enumerate(text):
        if char == "(":
            stack.append(i)
        elif char == ")" and stack:
            spans.append((stack.pop(), i))
    return spans


def metric_mentions(text: str) -> list[tuple[int, int, str, str]]:
    """``(start, end, key_pattern, prose)`` of every metric named in ``text``."""
    found = []
    for match in _METRIC.finditer(text):
        index = int(match.lastgroup[1:])
        found.append((match.start(), match.end(), METRICS[index][1], match.group(0)))
    return found


def methods_named(text: str, keys: Sequence[str]) -> tuple[str, ...]:
    """The method keys of a record that ``text`` names: by the key itself (``otsu_watershed`` as
    *Otsu + watershed*), its first part of four letters or more (*U-Net* for ``unet_tta``) or an
    alias of :data:`ALIASES`."""
    flat = normalise(text)
    for alias, key in ALIASES.items():
        if re.search(r"\s+".join(map(re.escape, alias.split())), text, re.IGNORECASE):
            flat += "|" + normalise(key)
    named = []
    for key in keys:
        first = normalise(re.split(r"[^A-Za-z0-9]+", key)[0])
        if normalise(key) in flat or (len(first) >= 4 and first in flat):
            named.append(key)
    return tuple(named)


def quotes(paragraph: str, method_keys: Sequence[str] = ()) -> list[Quote]:
    """The numbers of a Markdown paragraph that the rule checks, each tied to its level, metric
    and methods (see the module's docstring).

    Parameters
    ----------
    paragraph : str
        One Markdown paragraph.
    method_keys : sequence of str
        The method keys of the record the paragraph would quote (to find the methods it names).

    Returns
    -------
    list of Quote
        In a scoped paragraph every checked number; outside one only those that look like
        results (two or more decimals after a metric name, or a number in dB).
    """
    text = blank_code(paragraph)
    scopes = [(m.start(), m.group(1).lower()) for m in SCOPE.finditer(text)]
    mentions = [m for m in metric_mentions(text)  # "IoU ≥ 0.5" is a threshold, not a label
                if not re.match(r"\s*[≥≤<>=]", text[m[1]:])]
    asides = parentheses(text)
    found = []
    for match in NUMBER.finditer(text):
        number, start, end = match.group(1), match.start(), match.end()
        before, after = text[:start], text[end:]
        if any(s <= start < e for s, e, _, _ in mentions):  # part of a metric's name
            continue
        if PARAMETER_BEFORE.search(before) or SETTING_UNITS.match(after):
            continue
        in_db = bool(DB_AFTER.match(after))
        if "." not in number and not in_db:
            continue
        level = next((lv for s, lv in reversed(scopes) if s <= start),
                     scopes[0][1] if scopes else None)
        s_start, s_end = sentence_bounds(text, start)
        if in_db:
            metric, named = r"^psnr$", "dB"
        else:
            following = [m for m in mentions
                         if m[0] >= end and re.fullmatch(r"\s+(?:in\s+)?", text[end:m[0]])]
            visible = [m for m in mentions if m[0] < start
                       and not any(a < m[0] < b < start for a, b in asides)]
            preceding = [m for m in visible if m[0] >= s_start] or visible
            chosen = following[0] if following else (preceding[-1] if preceding else None)
            metric, named = (chosen[2], chosen[3]) if chosen else (None, "")
        if level is None:
            right_after_metric = re.search(
                r"(?:" + _METRIC.pattern + r")\s*(?:of\s+)?(?:about\s+)?$", before)
            if not (in_db or (len(number.split(".")[-1]) >= 2 and "." in number
                              and right_after_metric)):
                continue
        methods = methods_named(text[:s_end], method_keys) if method_keys else ()
        found.append(Quote(number, start, level, metric, named, methods,
                           bool(BY_BEFORE.search(before))))
    return found


def leaves(record: Mapping, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    """Every number of a record with its path of keys (the ``run`` block left out)."""
    for key, value in record.items():
        if not path and key == "run":
            continue
        if isinstance(value, Mapping):
            yield from leaves(value, (*path, str(key)))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield (*path, str(key)), float(value)


def method_keys(record: Mapping) -> list[str]:
    """The method names of a record: the row keys of its tables (``methods``, ``methods_3d``,
    ``realism``, …: mappings of names to mappings of numbers)."""
    keys: list[str] = []
    for key, table in record.items():
        if key == "run" or not isinstance(table, Mapping):
            continue
        for name, row in table.items():
            if isinstance(row, Mapping) and name not in keys:
                keys.append(name)
    return keys


def candidates(record: Mapping, quote: Quote) -> list[float]:
    """The recorded values ``quote`` may be: of its metric and methods (all when none is named);
    for a ``by X`` quote also the differences of two of them."""
    metric = re.compile(quote.metric) if quote.metric else None
    values = []
    for path, value in leaves(record):
        if metric and not any(metric.search(p) for p in path):
            continue
        if quote.methods and not set(path) & set(quote.methods):
            continue
        values.append(value)
    if quote.difference:
        values += [abs(a - b) for i, a in enumerate(values) for b in values[i + 1:]]
    return values


def matches(number: str, value: float) -> bool:
    """Whether ``value`` rounds to ``number`` at the precision it is written with."""
    decimals = len(number.split(".")[1]) if "." in number else 0
    return abs(value - float(number.replace("−", "-"))) <= 0.5 * 10 ** -decimals + 1e-9


def _context(text: str, start: int, width: int = 60) -> str:
    return " ".join(text[max(0, start - width):start + width].split())


def check_paragraph(paragraph: str, records: Mapping[str, Mapping | None], file: str,
                    cell: int | None = None, tutorial: str | None = None) -> list[Violation]:
    """The violations of one paragraph.

    Parameters
    ----------
    paragraph : str
        A Markdown paragraph.
    records : mapping
        Level (``"full"``, ``"default"``) -> tutorial -> record (``None`` or missing: not
        recorded).
    file, cell : str, int or None
        Where the paragraph is, for the report.
    tutorial : str or None
        The tutorial whose records a notebook quotes; ``None`` in the README (there the tutorial
        named last before the number counts).

    Returns
    -------
    list of Violation
    """
    keys = sorted({k for level in records.values() for r in (level or {}).values() if r
                   for k in method_keys(r)})
    found = []
    for quote in quotes(paragraph, keys):
        context = _context(paragraph, quote.start)
        if quote.level is None:
            found.append(Violation(file, cell, quote.number, context,
                                   "a result quoted without saying which run: add “in a full "
                                   "run” or “in a default run” to its paragraph"))
            continue
        name = tutorial
        if name is None:
            named = TUTORIAL.findall(paragraph[:quote.start])
            name = named[-1] if named else None
        if name is None:
            found.append(Violation(file, cell, quote.number, context,
                                   "no tutorial named before it (write `NN_name`)"))
            continue
        record = (records.get(quote.level) or {}).get(name)
        if record is None:
            found.append(Violation(file, cell, quote.number, context,
                                   f"no record results/{quote.level}/{name}.json"))
            continue
        own = [m for m in quote.methods if m in method_keys(record)]
        quote = Quote(quote.number, quote.start, quote.level, quote.metric, quote.metric_named,
                      tuple(own), quote.difference)
        values = candidates(record, quote)
        if not any(matches(quote.number, v) for v in values):
            what = (f"a value of results/{quote.level}/{name}.json"
                    + (f" for {quote.metric_named!r}" if quote.metric_named else "")
                    + (f" of {', '.join(quote.methods)}" if quote.methods else "")
                    + (" (or a difference of two)" if quote.difference else ""))
            shown = sorted({round(v, 4) for v in values})[:12]
            found.append(Violation(file, cell, quote.number, context,
                                   f"expected {what}; recorded: {shown}"))
    return found


def load_records(results: Path) -> dict[str, dict[str, dict]]:
    """Level -> tutorial -> record, from ``results/LEVEL/NAME.json``."""
    return {level: {p.stem: json.loads(p.read_text())
                    for p in sorted((Path(results) / level).glob("*.json"))}
            for level in LEVELS}


def check_notebook(path: Path, records: Mapping, root: Path | None = None) -> list[Violation]:
    """The violations of every Markdown cell of a notebook against its own tutorial's records."""
    path = Path(path)
    cells = json.loads(path.read_text())["cells"]
    file = str(path.relative_to(root)) if root else path.name
    found = []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        source = "".join(cell.get("source", ""))
        for paragraph in paragraphs(source):
            found += check_paragraph(paragraph, records, file, index, tutorial=path.stem)
    return found


def readme_prose(text: str) -> str:
    """The README without its generated table (checked by comparison, not by the prose rule)."""
    if TABLE_START in text and TABLE_END in text:
        head, rest = text.split(TABLE_START, 1)
        return head + rest.split(TABLE_END, 1)[1]
    return text


def check_readme(path: Path, records: Mapping, root: Path | None = None) -> list[Violation]:
    """The violations of the README's prose (its generated table left out)."""
    path = Path(path)
    file = str(path.relative_to(root)) if root else path.name
    found = []
    for paragraph in paragraphs(readme_prose(path.read_text())):
        found += check_paragraph(paragraph, records, file)
    return found


def check_repository(root: Path) -> list[Violation]:
    """Every violation of the README and of ``notebooks/*.ipynb`` against ``results/``."""
    root = Path(root)
    records = load_records(root / "results")
    found = check_readme(root / "README.md", records, root)
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        found += check_notebook(notebook, records, root)
    return found


# --- the README's generated table -------------------------------------------------------------

LABELS: Mapping[str, str] = {
    "unet": "U-Net", "unet_tta": "U-Net + TTA", "input": "input", "noisy": "noisy input",
    "gaussian": "Gaussian", "nl_means": "non-local means", "supervised": "supervised U-Net",
    "noise2void": "Noise2Void", "noise2void_tta": "Noise2Void + TTA", "n2v2": "N2V2",
    "n2v2_tta": "N2V2 + TTA", "richardson_lucy": "Richardson–Lucy", "otsu": "Otsu",
    "otsu_watershed": "Otsu + watershed", "three_class": "3-class U-Net + watershed",
    "embedding": "embeddings", "fcn": "FCN", "pix2pix": "pix2pix", "cyclegan": "CycleGAN",
    "ridge_rgb": "linear colour model (RGB)", "ridge_od": "linear colour model (optical density)",
    "unet_supervised": "U-Net on pairs", "unet_on_pix2pix_images": "U-Net on pix2pix images",
    "unet_on_cyclegan_images": "U-Net on CycleGAN images",
    "unet_on_blurred_mask_images": "U-Net on blurred-mask images", "blurred_mask": "blurred mask",
    "real": "real images",
    "embedding_transmitted": "embeddings", "otsu_watershed_transmitted": "Otsu + watershed",
    "otsu_watershed_hoechst": "Otsu + watershed on the Hoechst stain",
    "localnet": "LocalNet", "tvl1": "TV-L1", "identity": "no registration",
    "phase_correlation": "phase correlation", "recurrent": "recurrent U-Net",
    "unet_same_steps": "U-Net at equal steps", "unet_avg": "U-Net averaged over frames",
    "recurrent_no_context": "recurrent U-Net without context",
}
METRIC_LABELS: Mapping[str, str] = {
    "pearson": "Pearson r", "ssim": "SSIM", "psnr": "PSNR", "dice": "Dice", "iou": "IoU",
    "checkerboard": "checkerboard ratio",
    "ap50": "AP@0.5", "ap75": "AP@0.75", "matched_iou": "matched IoU", "hf_ratio": "hf_ratio",
    "intensity_distance": "intensity distance", "judge_dice": "judge Dice",
    "epe": "EPE (px)", "ncc": "NCC",
}
TABLE_LABELS: Mapping[str, str] = {"methods_3d": "3D", "methods_labelfree": "label-free",
                                   "methods_affine": "affine"}


def headlines(record: Mapping) -> list[Mapping]:
    """A record's headline(s) as a list (empty for ``null`` or a record without one)."""
    found = record.get("headline")
    if not found:
        return []
    return [found] if isinstance(found, Mapping) else list(found)


def tables(record: Mapping) -> list[str]:
    """The tables of a record the README shows: its headlines' tables, else every
    ``methods*`` table."""
    named = [h.get("table", "methods") for h in headlines(record)]
    if named:
        return list(dict.fromkeys(named))
    return [k for k, v in record.items() if re.fullmatch(r"methods(_\w+)?", k)
            and isinstance(v, Mapping) and all(isinstance(r, Mapping) for r in v.values())]


def table_metrics(record: Mapping, table: str) -> list[str]:
    """The metrics shown for a table: the headline metric first, then the others of
    :data:`METRIC_LABELS` the table has."""
    rows = record[table]
    present = [m for m in METRIC_LABELS if all(m in r for r in rows.values())]
    first = [h["metric"] for h in headlines(record) if h.get("table", "methods") == table]
    return list(dict.fromkeys(first + present))


def _format(metric: str, value: float) -> str:
    return f"{value:.2f} dB" if metric == "psnr" else f"{value:.3f}"


def _ordered(record: Mapping, table: str) -> list[tuple[str, str]]:
    """``(method, role)`` of a table's rows: networks, the others, the baseline, the input."""
    rows = list(record[table])
    networks, baseline, inputs = [], None, None
    for h in headlines(record):
        if h.get("table", "methods") != table:
            continue
        nets = [h["network"]] if isinstance(h["network"], str) else list(h["network"])
        networks += [n for n in nets if n not in networks]
        baseline, inputs = h.get("baseline"), h.get("input")
    rest = [r for r in rows if r not in networks and r not in (baseline, inputs)]
    out = [(n, "network") for n in networks] + [(r, "") for r in rest]
    out += [(baseline, "baseline")] if baseline in rows else []
    return out + ([(inputs, "input")] if inputs in rows else [])


def table_cell(record: Mapping | None, table: str) -> str:
    """One level's cell: every method of ``table`` with its values, the networks in bold and
    the baseline marked, then the run's wall time and commit."""
    if record is None:
        return "not recorded yet"
    if table not in record:
        return "not in this run"
    metrics_shown = table_metrics(record, table)
    parts = []
    for method, role in _ordered(record, table):
        label = LABELS.get(method, method.replace("_", " "))
        label = f"**{label}**" if role == "network" else label
        label += " (baseline)" if role == "baseline" else ""
        row = record[table][method]
        parts.append(f"{label} " + " / ".join(_format(m, row[m]) for m in metrics_shown))
    run = record.get("run", {})
    minutes = run.get("seconds")
    duration = "" if not minutes else (f"{minutes:.0f} s" if minutes < 60 else
                                          f"{minutes / 60:.0f} min")
    tail = ([duration]
            + [f"`{str(run['commit'])[:7]}`" if run.get("commit") else ""])
    tail = [t for t in tail if t]
    return "; ".join(parts) + (f" ({', '.join(tail)})" if tail else "")


def readme_table(results: Path, notebooks: Sequence[str] | None = None) -> str:
    """The README's results table, generated from ``results/full`` and ``results/default``.

    Parameters
    ----------
    results : Path
        The ``results/`` folder.
    notebooks : sequence of str, optional
        The tutorials to list (default: every tutorial with a record).

    Returns
    -------
    str
        A Markdown table, one row per tutorial and table of its metrics: the metrics (the
        headline metric first), then each level's values (headline networks in bold), its wall
        time and commit.
    """
    records = load_records(Path(results))
    names = list(notebooks) if notebooks is not None else sorted(
        {n for level in records.values() for n in level})
    lines = ["| tutorial | metrics on held-out data | full run | default run |",
             "|---|---|---|---|"]
    for name in names:
        ref = records["full"].get(name) or records["default"].get(name)
        if ref is None:
            lines.append(f"| [`{name}`](notebooks/{name}.ipynb) | | not recorded yet | "
                         "not recorded yet |")
            continue
        shown = list(dict.fromkeys(tables(ref) + [t for r in (records["default"].get(name),)
                                                  if r for t in tables(r)]))
        for table in shown:
            suffix = TABLE_LABELS.get(table, table.removeprefix("methods_"))
            title = f"[`{name}`](notebooks/{name}.ipynb)" + (
                f" ({suffix})" if table != "methods" else "")
            labels = [METRIC_LABELS.get(m, m) for m in table_metrics(ref, table)]
            if labels and any(h.get("table", "methods") == table for h in headlines(ref)):
                labels[0] = f"**{labels[0]}**"
            cells = [table_cell(records[level].get(name), table) for level in LEVELS]
            lines.append(f"| {title} | {' / '.join(labels)} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def readme_table_section(text: str) -> str | None:
    """The table between :data:`TABLE_START` and :data:`TABLE_END` of a README (``None`` when
    the markers are missing)."""
    if TABLE_START not in text or TABLE_END not in text:
        return None
    return text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip("\n")


def write_readme_table(readme: Path, results: Path) -> bool:
    """Replace the README's generated table by :func:`readme_table`; return whether it changed.

    Raises
    ------
    ValueError
        When the README lacks the markers.
    """
    readme = Path(readme)
    text = readme.read_text()
    if readme_table_section(text) is None:
        raise ValueError(f"{readme} has no {TABLE_START!r} … {TABLE_END!r} markers")
    notebooks = sorted(p.stem for p in (readme.parent / "notebooks").glob("*.ipynb")) or None
    head, rest = text.split(TABLE_START, 1)
    new = (head + TABLE_START + "\n" + readme_table(results, notebooks) + "\n" + TABLE_END
           + rest.split(TABLE_END, 1)[1])
    if new != text:
        readme.write_text(new)
    return new != text


def main(argv: Sequence[str] | None = None) -> int:
    """Print every violation under a repository root; 1 when there is one."""
    parser = argparse.ArgumentParser(prog="python -m im2im_helpers.dev.quoted",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--write-readme", action="store_true",
                        help="regenerate the README's results table from results/ first")
    args = parser.parse_args(argv)
    if args.write_readme:
        changed = write_readme_table(args.root / "README.md", args.root / "results")
        print("README.md: results table " + ("regenerated" if changed else "unchanged"))
    found = check_repository(args.root)
    for violation in found:
        print(violation)
    print(f"{len(found)} quoted number(s) not backed by results/", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

