"""The check of quoted numbers (:mod:`im2im_helpers.dev.quoted`): over the real README and
notebooks, against a mutated copy (an edited number must fail), and its rules one by one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from im2im_helpers.dev import quoted

ROOT = Path(__file__).resolve().parents[2]

RECORD = {
    "tutorial": "99_demo", "level": "full", "headline": None,
    "methods": {
        "otsu": {"dice": 0.8698, "iou": 0.7697},
        "unet": {"dice": 0.9428, "iou": 0.8917, "psnr": 30.262},
        "three_class": {"ap50": 0.8067, "merges": 3.3333},
        "embedding": {"ap50": 0.8346, "merges": 0.6667},
    },
    "uncertainty": {"unet_tta": {"spearman": 0.7906}, "random_map": {"spearman": -0.1041}},
    "run": {"level": "full", "commit": "abc1234", "seconds": 600},
}
RECORDS = {"full": {"99_demo": RECORD}, "default": {}}


def violations(paragraph: str, records=RECORDS, tutorial="99_demo") -> list[str]:
    return [v.number for v in quoted.check_paragraph(paragraph, records, "x.ipynb", 0, tutorial)]


# --- the real content ---------------------------------------------------------------------------

def test_readme_table_is_generated_from_the_records():
    text = (ROOT / "README.md").read_text()
    section = quoted.readme_table_section(text)
    assert section is not None, "README.md lost the markers of its generated results table"
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert section == quoted.readme_table(ROOT / "results", notebooks), (
        "README.md's results table differs from results/: run "
        "`python -m im2im_helpers.dev.quoted --write-readme`")


def test_readme_prose_quotes_only_recorded_numbers():
    found = quoted.check_readme(ROOT / "README.md", quoted.load_records(ROOT / "results"), ROOT)
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_notebook_prose_quotes_only_recorded_numbers(notebook):
    found = quoted.check_notebook(ROOT / "notebooks" / notebook,
                                  quoted.load_records(ROOT / "results"), ROOT)
    assert not found, "quoted numbers not backed by results/:\n" + "\n".join(map(str, found))


# --- an edited number fails ---------------------------------------------------------------------

@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the README, the notebooks and the records."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copytree(ROOT / "results", tmp_path / "results")
    return tmp_path


def scoped_quotes(root: Path) -> list[tuple[Path, int, str]]:
    """(notebook, cell, number) of every number the check ties to a record."""
    found = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            for paragraph in quoted.paragraphs("".join(cell["source"])):
                found += [(path, index, q.number) for q in quoted.quotes(paragraph, ["x"])
                          if q.level and "." in q.number]
    return found


def bump(number: str, taken: list[float] = ()) -> str:
    """``number`` changed in its last digit by 3 or more (0.835 -> 0.838; 9.3 -> 9.6), to a value
    none of ``taken`` rounds to: the check ties a number to its metric and the methods its
    paragraph names, so an edit onto another of their recorded values is, by design, not caught."""
    decimals = len(number.split(".")[1])
    for step in range(3, 100):
        edited = f"{float(number) + step * 10 ** -decimals:.{decimals}f}"
        if not any(quoted.matches(edited, v) for v in taken):
            return edited
    raise AssertionError(f"no unrecorded edit of {number}")


def recorded(records: dict, tutorial: str) -> list[float]:
    """Every value of the tutorial's records and every difference of two of them."""
    values = [v for level in records.values() if tutorial in level
              for _, v in quoted.leaves(level[tutorial])]
    return values + [a - b for a in values for b in values]


def test_an_edited_notebook_number_fails(copy):
    records = quoted.load_records(copy / "results")
    quotes = scoped_quotes(copy)
    assert len(quotes) > 20, "the notebooks quote recorded results; the check found few"
    before = {str(v) for p in {q[0] for q in quotes} for v in quoted.check_notebook(p, records)}
    caught = 0
    for path, index, number in quotes[::5]:
        notebook = json.loads(path.read_text())
        source = "".join(notebook["cells"][index]["source"])
        edited = source.replace(number, bump(number, recorded(records, path.stem)), 1)
        notebook["cells"][index]["source"] = edited
        path.write_text(json.dumps(notebook))
        after = {str(v) for v in quoted.check_notebook(path, records)}
        caught += bool(after - before)
        notebook["cells"][index]["source"] = source
        path.write_text(json.dumps(notebook))
    assert caught == len(quotes[::5])


def test_an_edited_readme_table_fails(copy):
    text = (copy / "README.md").read_text()
    table = quoted.readme_table_section(text)
    edited = table.replace("0.", "0.9", 1) if "0." in table else table + "x"
    (copy / "README.md").write_text(text.replace(table, edited))
    assert quoted.readme_table_section((copy / "README.md").read_text()) != quoted.readme_table(
        copy / "results", sorted(p.stem for p in (copy / "notebooks").glob("*.ipynb")))


def test_an_edited_record_fails_the_notebook_that_quotes_it(copy):
    path, index, number = scoped_quotes(copy)[0]
    tutorial = path.stem
    record_path = copy / "results" / "full" / f"{tutorial}.json"
    record = json.loads(record_path.read_text())
    # shift every value of the record: no quoted decimal can still match
    def shifted(node):
        if isinstance(node, dict):
            return {k: (node[k] if k == "run" else shifted(node[k])) for k in node}
        if isinstance(node, float):
            return node + 0.37
        return node
    record_path.write_text(json.dumps(shifted(record)))
    found = quoted.check_notebook(path, quoted.load_records(copy / "results"))
    assert any(v.number == number and v.cell == index for v in found)


def test_the_command_reports_and_fails(copy, capsys):
    notebook = copy / "notebooks" / "99_demo.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source":
                                               "In a full run the U-Net reaches Dice 0.123."}]}))
    assert quoted.main(["--root", str(copy)]) == 1
    assert "99_demo.ipynb cell 0: '0.123'" in capsys.readouterr().out


def test_write_readme_table_regenerates_it(copy):
    readme = copy / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace(quoted.readme_table_section(text), "| stale |"))
    assert quoted.write_readme_table(readme, copy / "results")
    assert readme.read_text() == text
    assert not quoted.write_readme_table(readme, copy / "results")


# --- the rules ----------------------------------------------------------------------------------

def test_a_recorded_number_at_its_precision_passes():
    assert violations("In a full run the U-Net reaches Dice 0.943, about 0.94, IoU 0.892.") == []


def test_an_unrecorded_number_fails_with_what_was_expected():
    found = quoted.check_paragraph("In a full run the U-Net reaches Dice 0.953.", RECORDS,
                                   "x.ipynb", 3, "99_demo")
    assert [(v.cell, v.number) for v in found] == [(3, "0.953")]
    assert "results/full/99_demo.json" in found[0].expected and "Dice" in found[0].expected
    assert "0.9428" in found[0].expected


def test_the_number_belongs_to_the_metric_named_before_it():
    # 0.770 is Otsu's IoU, not a Dice
    assert violations("In a full run Otsu reaches Dice 0.770.") == ["0.770"]
    assert violations("In a full run Otsu reaches IoU 0.770.") == []


def test_an_aside_does_not_name_the_metric_of_the_numbers_after_it():
    text = "In a full run the U-Net reaches Dice 0.943 (IoU 0.892), against 0.870 for Otsu."
    assert violations(text) == []


def test_a_metric_or_unit_right_after_the_number_names_it():
    assert violations("In a full run the embeddings merge less (0.7 merges per image).") == []
    assert violations("In a full run the U-Net reaches Dice 0.943 and 30.3 dB.") == []
    assert violations("In a full run the U-Net reaches Dice 0.943 and 30.9 dB.") == ["30.9"]


def test_a_negative_number_keeps_its_sign():
    assert violations("In a full run the TTA map of the U-Net reaches Spearman 0.791 "
                      "(the random map: -0.104, or −0.104).") == []
    assert violations("In a full run the random map reaches Spearman 0.104.") == ["0.104"]


def test_the_number_belongs_to_a_method_the_paragraph_names():
    # 0.870 is Otsu's Dice; the paragraph names only the U-Net
    assert violations("In a full run the U-Net reaches Dice 0.870.") == ["0.870"]
    assert violations("In a full run Otsu and the U-Net reach Dice 0.870 and 0.943.") == []
    assert violations("In a full run the 3-class network reaches AP@0.5 0.807.") == []


def test_scope_phrases_pick_the_record_and_unscoped_results_fail():
    default = {"full": {}, "default": {"99_demo": {**RECORD, "methods": {
        "unet": {"dice": 0.9}}}}}
    assert violations("In a default run the U-Net reaches Dice 0.900.", default) == []
    assert violations("In a full run the U-Net reaches Dice 0.900.", default) == ["0.900"]
    assert violations("The U-Net reaches Dice 0.943.") == ["0.943"]
    assert violations("The U-Net reaches 31 dB.") == ["31"]
    # numbers that are not results outside a scoped paragraph pass
    assert violations("Thresholds from IoU 0.5 to 0.9; a read noise of 0.02.") == []


def test_a_number_before_the_phrase_takes_its_level():
    assert violations("Otsu finds little (Dice 0.870 in a full run).") == []


def test_settings_are_not_results():
    text = ("In a full run (seed 0) with `MASK_FRACTION = 0.002`, pixels of 0.124 µm, power above "
            "0.25 cycles per pixel, σ 1.5, IoU ≥ 0.5, AP@0.75 and 10 photons, the U-Net reaches "
            "Dice 0.943.")
    assert violations(text) == []


def test_any_other_constant_in_a_results_paragraph_fails():
    assert violations("In a full run the U-Net reaches Dice 0.943; a coin lands at 0.5.") == ["0.5"]


def test_a_difference_is_checked_as_one():
    assert violations("In a full run the U-Net beats Otsu by 0.073 in Dice.") == []
    assert violations("In a full run the U-Net beats Otsu by 0.080 in Dice.") == ["0.080"]


def test_whole_numbers_are_checked_only_in_db():
    assert violations("In a full run with 2 networks and 4 epochs the U-Net reaches 30 dB.") == []
    assert violations("In a full run the U-Net reaches 33 dB.") == ["33"]


def test_a_missing_record_is_a_violation():
    found = quoted.check_paragraph("In a default run the U-Net reaches Dice 0.943.", RECORDS,
                                   "x.ipynb", 0, "99_demo")
    assert "no record results/default/99_demo.json" in found[0].expected


def test_the_readme_names_the_tutorial_it_quotes():
    assert violations("In a full run of `99_demo` the U-Net reaches Dice 0.943.",
                      tutorial=None) == []
    found = quoted.check_paragraph("In a full run the U-Net reaches Dice 0.943.", RECORDS,
                                   "README.md", None, None)
    assert "no tutorial named" in found[0].expected


def test_matches_rounds_at_the_quoted_precision():
    assert quoted.matches("0.835", 0.83465) and quoted.matches("0.8", 0.8138)
    assert not quoted.matches("0.836", 0.83465) and quoted.matches("33", 33.09)


def test_readme_table_bolds_the_headline_and_marks_the_baseline(tmp_path):
    (tmp_path / "full").mkdir()
    record = {**RECORD, "headline": {"metric": "dice", "network": "unet", "baseline": "otsu",
                                     "higher_is_better": True, "table": "methods",
                                     "input": None, "others": []}}
    record["methods"] = {k: v for k, v in RECORD["methods"].items() if k in ("otsu", "unet")}
    (tmp_path / "full" / "99_demo.json").write_text(json.dumps(record))
    table = quoted.readme_table(tmp_path, ["99_demo", "98_other"]).splitlines()
    assert table[2] == ("| [`99_demo`](notebooks/99_demo.ipynb) | **Dice** / IoU | "
                        "**U-Net** 0.943 / 0.892; Otsu (baseline) 0.870 / 0.770 "
                        "(10 min, `abc1234`) | not recorded yet |")
    assert "98_other" in table[3] and "not recorded yet" in table[3]
