"""The sections of a quality-control report, each built from the facts gathered in
:class:`~im2im_helpers.report.sources.Sources` (the intended use lives in
:mod:`~im2im_helpers.report.domain`)."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping

from im2im_helpers.report import domain, environment, images, plots
from im2im_helpers.report.document import Bullets, Code, Paragraph, Picture, Section, Table
from im2im_helpers.report.sources import PARTS, Sources, sha256_file

#: The sections of every report, in order: ``(id, title)``.
SECTIONS = (
    ("summary", "Summary"),
    ("intended-use", "Intended use and limits"),
    ("metrics", "Metrics on held-out images"),
    ("loss-curves", "Loss curves"),
    ("figures", "Example figures"),
    ("uncertainty", "Uncertainty"),
    ("split", "Data split"),
    ("configuration", "Configuration"),
    ("environment", "Environment"),
    ("git", "Git commit"),
    ("provenance", "Provenance"),
)
TITLES = dict(SECTIONS)
#: Further values of an uncertainty summary, when it has them: ``(key, what it is)``.
UNCERTAINTY_EXTRAS = (
    ("aurg", "AURG (area between random and the model's sparsification; higher is better)"),
    ("relative_ause", "AUSE relative to random"),
    ("below_random", "share of fractions where the model's curve is below random"),
    ("mean_error", "mean error"),
)
#: Keys of ``metrics.json`` shown elsewhere than its "also recorded" table.
SHOWN = ("headline", "run", "tutorial", "dataset", "level", "split", "test_images",
         "test_frames")


def number(value) -> str:
    """A value for a table: numbers with 4 significant digits, anything else as text."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _section(key: str, blocks: list) -> Section:
    return Section(key, TITLES[key], blocks)


def _comparisons(record: Mapping) -> tuple[list, str]:
    """The headline's checked claims, or a problem with them."""
    from im2im_helpers.metrics.headline import compare

    try:
        return compare(record), ""
    except (KeyError, TypeError, ValueError) as err:
        return [], f"its headline names {err}, which its tables do not have"


def tables_of(record: Mapping) -> dict[str, dict]:
    """The metric tables of a ``metrics.json`` record: ``{key: {method: {metric: value}}}``
    (``methods`` and any other key holding such a table, e.g. ``methods_3d``)."""
    found = {}
    for key, value in record.items():
        if isinstance(value, Mapping) and value and all(
                isinstance(row, Mapping) and row and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in row.values())
                for row in value.values()):
            found[key] = value
    return found


def headlines(record: Mapping) -> list[Mapping]:
    """The headline(s) of a ``metrics.json`` record as a list."""
    found = record.get("headline")
    if isinstance(found, Mapping):
        return [found]
    return [h for h in found if isinstance(h, Mapping)] if isinstance(found, list) else []


def held_out(src: Sources) -> list[str]:
    """Names of the held-out images the metrics were measured on."""
    record = src.metrics.record or {}
    for key in ("test_images", "test_frames"):
        if isinstance(record.get(key), list):
            return [str(n) for n in record[key]]
    return list(src.split_names["test"]) if src.split_names else []


def _missing_metrics(src: Sources) -> Paragraph:
    return Paragraph(f"No metrics for this run: {src.metrics.problem}. A tutorial writes them "
                     "with im2im_helpers.metrics.write_json(OUT_DIR / 'metrics.json', ...) "
                     "after measuring every method on the held-out images.", "note")


def summary(src: Sources) -> Section:
    """Headline: the network against its baseline on held-out images, and the run in brief."""
    record = src.metrics.record
    info = src.checkpoint_info
    rows = [["run folder", str(src.run.resolve())],
            ["task", str(src.section("task", "kind", default="?"))],
            ["network", str((src.section("model", default={}) or {}).get("name", "?"))],
            ["trained", f"{info.get('epochs', '?')} epoch(s), {info.get('steps', '?')} step(s)"
             if "problem" not in info else info["problem"]]]
    blocks: list = []
    if record is None:
        blocks.append(_missing_metrics(src))
    else:
        rows[:0] = [[k, number(record[k])] for k in ("tutorial", "dataset", "level", "split")
                    if k in record]
        comparisons, problem = _comparisons(record)
        if problem:
            blocks.append(Paragraph(f"{src.metrics.path}: {problem}.", "warning"))
        elif not comparisons:
            blocks.append(Paragraph("metrics.json names no headline (no network against a "
                                    "baseline).", "note"))
        else:
            names = held_out(src)
            where = f" ({len(names)} held-out image(s))" if names else ""
            for c in comparisons:
                verdict = "beats" if c.won else "does NOT beat"
                blocks.append(Paragraph(
                    f"{c.method} {verdict} {c.reference} on {c.metric}{where}: "
                    f"{c.value:.4g} vs {c.reference_value:.4g} ({c.table}).",
                    "" if c.won else "warning"))
    unc = src.uncertainty.record
    if unc and isinstance(unc.get("spearman_rho"), (int, float)):
        rows.append(["uncertainty", f"{unc.get('method', '?')}: Spearman ρ with the error "
                     f"{unc['spearman_rho']:.3f}"])
    return _section("summary", [Table(["", ""], rows), *blocks])


def metrics(src: Sources) -> Section:
    """Every method x metric table of ``metrics.json``, the headline's rows marked."""
    record = src.metrics.record
    if record is None:
        return _section("metrics", [_missing_metrics(src)])
    heads = headlines(record)
    names = held_out(src)
    blocks: list = [Paragraph(
        f"Means over the held-out ({record.get('split', 'test')}) images"
        + (f": {', '.join(names)}" if names else "") + f". From {src.metrics.path}.")]
    for key, table in tables_of(record).items():
        metric_names = list(dict.fromkeys(m for row in table.values() for m in row))
        marks, emphasis = {}, None
        for h in heads:
            if h.get("table", "methods") != key:
                continue
            emphasis = h.get("metric")
            networks = [h["network"]] if isinstance(h.get("network"), str) else h.get("network", [])
            for i, method in enumerate(table):
                if method in networks:
                    marks[i] = "headline"
                elif method == h.get("baseline"):
                    marks[i] = "baseline"
                elif method == h.get("input"):
                    marks.setdefault(i, "input")
        rows = [[m, *(number(row.get(n)) for n in metric_names)] for m, row in table.items()]
        blocks.append(Table(["method", *metric_names], rows, caption=key, marks=marks,
                            emphasis=emphasis))
    direction = [f"{h.get('metric')}: {'higher' if h.get('higher_is_better', True) else 'lower'}"
                 " is better" for h in heads]
    if direction:
        blocks.append(Paragraph("Headline network rows are marked ★, the baseline ◆ and the raw "
                                "input ○; " + "; ".join(direction) + "."))
    comparisons, problem = _comparisons(record)
    if comparisons:
        blocks.append(Bullets([str(c) for c in comparisons]))
    if problem:
        blocks.append(Paragraph(problem, "warning"))
    extras = [[k, number(v)] for k, v in record.items()
              if k not in tables_of(record) and k not in SHOWN
              and (isinstance(v, (int, float, str, bool)) or v is None)]
    if extras:
        blocks.append(Table(["also recorded", ""], extras))
    return _section("metrics", blocks)


def loss_curves(src: Sources) -> Section:
    """The training log as curves, with the first, last and best value of each term."""
    history = src.history
    if not history:
        return _section("loss-curves", [Paragraph(
            f"No training log in {src.run / 'logs'}: the run never finished a logged step.",
            "note")])
    blocks: list = [Picture(png, caption) for png, caption in plots.loss_pictures(history)]
    rows = []
    for name, values in sorted(history.items()):
        best = min(values, key=lambda v: v[2])
        rows.append([name, str(len(values)), number(values[0][2]), number(values[-1][2]),
                     f"{number(best[2])} (epoch {best[0] + 1})"])
    blocks.append(Table(["logged term", "values", "first", "last", "lowest"], rows,
                        caption=f"From {src.run / 'logs'} (every attempt of the run)."))
    if src.checkpoint is not None:
        blocks.append(Paragraph(f"The model's weights: {src.checkpoint.name} (best validation "
                                "loss when the run had validation images, else the last)."))
    return _section("loss-curves", blocks)


def figures(src: Sources) -> Section:
    """The tutorial's figures, embedded."""
    if not src.figures:
        return _section("figures", [Paragraph(
            f"No example figures: {src.figures_note}. A tutorial saves its figures into "
            "OUT_DIR/figures (the path= argument of the im2im_helpers.viz functions).", "note")])
    return _section("figures", [Picture(p.read_bytes(), p.name) for p in src.figures])


def _patch(value) -> str:
    if isinstance(value, list):
        return " × ".join(map(str, value)) + " pixels"
    return number(value)


def uncertainty(src: Sources) -> Section:
    """The uncertainty summary: how well the uncertainty ranks the errors."""
    record = src.uncertainty.record
    if record is None:
        return _section("uncertainty", [Paragraph(
            f"No uncertainty summary for this run: {src.uncertainty.problem}. Make one with "
            "im2im_helpers.uncertainty: summary = summarize(maps, errors, ...), then "
            "write_summary(OUT_DIR / 'uncertainty.json', summary) beside the run folder (or "
            "pass uncertainty= to write_report), and write the report again.", "note")])
    n = f", n = {record['n_patches']}" if "n_patches" in record else ""
    rows = [["method", str(record.get("method", "?"))],
            ["error metric", str(record.get("metric", "?"))],
            [f"Spearman ρ of uncertainty and error (over patches{n})",
             f"{number(record.get('spearman_rho'))} (p = {number(record.get('spearman_p'))})"],
            ["patch", _patch(record.get("patch"))],
            ["AUSE (area between the model's and the oracle's sparsification; 0 is ideal)",
             number(record.get("ause"))]]
    for key, what in UNCERTAINTY_EXTRAS:
        if key in record:
            rows.append([what, number(record[key])])
    objects = record.get("objects")
    if isinstance(objects, Mapping):
        rows.append(["objects: AUROC of the uncertainty for wrongly found objects",
                     f"{number(objects.get('auroc'))} (n = {number(objects.get('n'))}"
                     + (f", {objects['matched']} matched" if "matched" in objects else "")
                     + ")"])
    known = {"method", "metric", "spearman_rho", "spearman_p", "patch", "n_patches", "ause",
             "objects", "sparsification", "per_image", *dict(UNCERTAINTY_EXTRAS)}
    rows += [[k, number(v)] for k, v in record.items()
             if k not in known and (isinstance(v, (int, float, str, bool)) or v is None)]
    blocks: list = [Table(["", ""], rows, caption=f"From {src.uncertainty.path}.")]
    png = plots.sparsification_picture(record)
    if png is not None:
        blocks.append(Picture(png, "Sparsification: the error left after removing the most "
                                   "uncertain pixels first; the closer to the oracle, the "
                                   "better, and above the random order the uncertainty is "
                                   "useless."))
    per_image = [r for r in record.get("per_image") or [] if isinstance(r, Mapping)]
    if per_image:
        per_image.sort(key=lambda r: -r["uncertainty"] if isinstance(
            r.get("uncertainty"), (int, float)) else math.inf)
        blocks.append(Table(["image", "mean uncertainty", "mean error"],
                            [[str(r.get("name", "?")), number(r.get("uncertainty")),
                              number(r.get("error"))] for r in per_image],
                            caption="Per held-out image, most uncertain first."))
    return _section("uncertainty", blocks)


def split(src: Sources) -> Section:
    """The train/val/test names with the content hash of each image pair."""
    loaded = src.split_file
    if src.split_names is None:
        return _section("split", [Paragraph(
            f"No split: {loaded.problem}. A tutorial writes it with data.split(pairs, ..., "
            "path=OUT_DIR / 'split.json').", "note")])
    blocks: list = []
    if loaded.record is not None:
        params = loaded.record.get("parameters") or {}
        said = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(
            params, Mapping) else ""
        blocks.append(Paragraph(f"Split file {loaded.path}"
                                + (f" (parameters: {said})" if said else "") + "."))
    if src.pairs is None:
        blocks.append(Paragraph(f"Content hashes: not available — {src.pairs_note}.", "note"))
    else:
        blocks.append(Paragraph(f"Content hashes: {images.DIGEST_NOTE}; the pairs were "
                                f"{src.pairs_note}."))
    rows = []
    for part in PARTS:
        for name in src.split_names[part]:
            pair = (src.pairs or {}).get(name)
            if pair is None:
                rows.append([part, name, "—", "—", "—" if src.pairs is None else
                             "not among the pairs read again: the data changed"])
                continue
            rows.append([part, name, " × ".join(map(str, pair.input.shape)),
                         domain.size_text(pair.pixel_sizes), images.digest(pair)])
    blocks.append(Table(["set", "name", "input shape (C, [Z,] Y, X)", "pixel size",
                         "content SHA-256"], rows, monospace=(4,)))
    return _section("split", blocks)


def configuration(src: Sources) -> Section:
    """``config.yaml`` as it is."""
    blocks: list = [Code(src.config_text, str(src.run / "config.yaml"))]
    if src.config_problem:
        blocks.insert(0, Paragraph(src.config_problem, "warning"))
    blocks.append(Paragraph("python -m im2im_helpers train config.yaml --out FOLDER repeats the "
                            "run from this file."))
    return _section("configuration", blocks)


def environment_section(src: Sources) -> Section:
    """Package versions and machine where the report was written, and what the run recorded."""
    blocks: list = [
        Table(["package", "version"], [[k, v] for k, v in environment.versions().items()],
              caption="Installed where this report was written."),
        Table(["machine", ""], [[k, v] for k, v in environment.machine().items()]),
    ]
    if src.checkpoint_info.get("lightning"):
        blocks.append(Paragraph(f"The run's checkpoints were written by Lightning "
                                f"{src.checkpoint_info['lightning']}."))
    recorded = (src.metrics.record or {}).get("run")
    if isinstance(recorded, Mapping) and isinstance(recorded.get("packages"), Mapping):
        blocks.append(Table(["package", "version"],
                            [[k, str(v)] for k, v in recorded["packages"].items()],
                            caption="Recorded with the tutorial's run (metrics.json)."))
        machine = [[k, str(recorded[k])] for k in ("machine", "threads", "seconds", "date")
                   if k in recorded]
        if machine:
            blocks.append(Table(["the run's machine", ""], machine))
    return _section("environment", blocks)


def git(src: Sources) -> Section:
    """The commit of the helper package's source tree, and whether it had local changes."""
    state = environment.commit()
    if state.commit is None:
        blocks: list = [Paragraph(f"{state.folder}: {state.reason}: the code is identified by "
                                  "the im2im_helpers version in the environment section.",
                                  "note")]
    else:
        changes = (f"yes: {len(state.changed)} tracked file(s) differ from the commit, "
                   f"{len(state.untracked)} file(s) are not tracked" if state.dirty
                   else "none (clean)")
        blocks = [Table(["", ""], [["repository", str(state.folder)], ["commit", state.commit],
                                   ["local changes", changes]])]
        listed = ([f"changed: {f}" for f in state.changed]
                  + [f"not tracked: {f}" for f in state.untracked])
        if listed:
            blocks.append(Bullets(listed[:30] + (
                [f"... and {len(listed) - 30} more"] if len(listed) > 30 else [])))
    recorded = (src.metrics.record or {}).get("run")
    if isinstance(recorded, Mapping) and recorded.get("commit"):
        blocks.append(Paragraph(f"The tutorial's run recorded commit {recorded['commit']}."))
    return _section("git", blocks)


def provenance(src: Sources, command: str) -> Section:
    """When, by what and from which files the report was written."""
    import im2im_helpers

    when = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    rows = [["written", when], ["by", f"im2im_helpers {im2im_helpers.__version__}"],
            ["command", command], ["run folder", str(src.run.resolve())]]
    files = [[what, str(path), sha256_file(path)] for what, path in src.read.items()]
    files += [["figure", str(p), sha256_file(p)] for p in src.figures]
    return _section("provenance", [Table(["", ""], rows),
                                   Table(["input", "file", "SHA-256"], files, monospace=(2,),
                                         caption="The files this report was made from.")])


def build(src: Sources, command: str) -> list[Section]:
    """Every section of :data:`SECTIONS`, in order."""
    made = [summary(src), domain.section(src), metrics(src), loss_curves(src), figures(src),
            uncertainty(src), split(src), configuration(src), environment_section(src), git(src),
            provenance(src, command)]
    assert [s.id for s in made] == [k for k, _ in SECTIONS]
    return made
