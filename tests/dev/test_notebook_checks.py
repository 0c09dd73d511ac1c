"""Notebook hygiene: every tutorial follows the rules, and each rule catches a bad notebook
(:mod:`im2im_helpers.dev.notebook_checks`). The Colab setup cell is the same short cell everywhere,
does nothing outside Colab and never installs torch, and the repository URL is the same
everywhere."""

import copy
import json
import sys
import types
from pathlib import Path

import nbformat
import pytest

from im2im_helpers.dev.notebook_checks import COLAB_SETUP, problems

ROOT = Path(__file__).resolve().parents[2]  # the repository
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GOOD = NOTEBOOKS[-1]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_every_tutorial_follows_the_rules(notebook):
    assert problems(notebook) == []


def _broken(tmp_path, change) -> list[str]:
    nb = json.loads(GOOD.read_text())
    change(nb["cells"])
    path = tmp_path / "bad.ipynb"
    path.write_text(json.dumps(nb))
    return problems(path)


def _code(cells):
    return [c for c in cells if c["cell_type"] == "code"]


def _params(cells):
    return next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))


def _first(cells, start):
    return next(i for i, c in enumerate(cells) if "".join(c["source"]).startswith(start))


def _solution_untagged(cells):
    cells[_first(cells, "# Solution") ].update(metadata={})


def _exercise_listed(cells):
    heading = next(c for c in cells if "Exercises" in "".join(c["source"]).split("\n")[0])
    heading["source"] = "## Exercises\n\n1. **Loss.** Try L1.\n2. **Size.** Try more."


BREAKAGES = {
    "outputs": lambda cells: _code(cells)[1].update(
        outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}], execution_count=3),
    "tagged": lambda cells: cells.append(copy.deepcopy(_params(cells))),
    "does not set": lambda cells: _params(cells).update(source="QUICK = True\nSEED = 0\n"),
    "over 30 lines": lambda cells: _code(cells)[-1].update(source="x = 1\n" * 31),
    "no static figure": lambda cells: [c.update(source="pass") for c in _code(cells)[4:]],
    "cuda:0": lambda cells: _code(cells)[-1].update(source="device = 'cuda:0'"),
    "environment_report": lambda cells: [c.update(source="".join(c["source"]).replace(
        "environment_report()", "")) for c in _code(cells)],
    "installs torch": lambda cells: _code(cells)[0].update(source=(
        "import sys\nif 'google.colab' in sys.modules:\n    !pip install torch im2im-helpers")),
    "not the Colab setup cell": lambda cells: _code(cells)[0].update(
        source=COLAB_SETUP + "\nprint('hello')"),
    "give training its own cell": lambda cells: _code(cells)[-1].update(
        source="run = train.fit(task, dm, 'run')\nviz.loss_curves(run)"),
    "does not start its cell": lambda cells: cells[0].update(
        source="".join(cells[0]["source"]) + "\n\n## 2 · Buried\n"),
    "not followed by its solution": lambda cells: cells.pop(_first(cells, "# Solution")),
    "does not follow an exercise": lambda cells: cells.pop(_first(cells, "**Exercise")),
    "is not tagged": _solution_untagged,
    "lists exercises together": _exercise_listed,
    "no exercises": lambda cells: [cells.pop(_first(cells, "**Exercise"))
                                   for _ in range(sum("".join(c["source"]).startswith(
                                       "**Exercise") for c in cells))],
}


@pytest.mark.parametrize("rule", sorted(BREAKAGES))
def test_each_rule_catches_a_bad_notebook(tmp_path, rule):
    found = _broken(tmp_path, BREAKAGES[rule])
    assert any(rule in p for p in found), found


def _run_setup_cell(monkeypatch, colab: bool) -> list[list[str]]:
    """Execute each notebook's first code cell as IPython would (``%pip`` becomes a magic call);
    return the ``%pip`` lines it would have run, split into words."""
    from IPython.core.inputtransformer2 import TransformerManager

    commands, widgets = [], []

    def run_line_magic(name, line, *args):
        commands.append([name, *line.split()])

    if colab:  # a fake google.colab
        output = types.SimpleNamespace(enable_custom_widget_manager=lambda: widgets.append(1))
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.SimpleNamespace(output=output))
    shell = types.SimpleNamespace(run_line_magic=run_line_magic)
    for notebook in NOTEBOOKS:
        setup = next(c for c in nbformat.read(notebook, 4).cells if c.cell_type == "code")
        code = TransformerManager().transform_cell(setup.source)
        exec(compile(code, str(notebook), "exec"), {"get_ipython": lambda: shell})
    assert len(widgets) == (len(NOTEBOOKS) if colab else 0)  # sliders on Colab
    return commands


def test_colab_setup_cell_is_short_and_the_same_everywhere():
    assert len(COLAB_SETUP.splitlines()) <= 6
    for notebook in NOTEBOOKS:
        setup = next(c for c in nbformat.read(notebook, 4).cells if c.cell_type == "code")
        assert setup.source == COLAB_SETUP, notebook.name


def test_colab_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_setup_cell(monkeypatch, colab=False) == []


def test_colab_setup_cell_installs_the_helpers_but_never_torch(monkeypatch):
    commands = _run_setup_cell(monkeypatch, colab=True)
    assert len(commands) == len(NOTEBOOKS)
    for cmd in commands:
        assert cmd[:2] == ["pip", "install"]
        assert any(arg.startswith('"im2im-helpers') for arg in cmd)
        assert not any("torch" in arg for arg in cmd) and "--upgrade" not in cmd


def test_repository_url_is_the_same_everywhere():
    import yaml

    from im2im_helpers import REPOSITORY

    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["repository"]["url"] == REPOSITORY
    slug = REPOSITORY.removeprefix("https://github.com/")
    for notebook in NOTEBOOKS:
        text = notebook.read_text()
        assert f"git+{REPOSITORY}" in COLAB_SETUP and COLAB_SETUP in nbformat.read(
            notebook, 4).cells[2].source, notebook.name
        assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/{notebook.name}" \
            in text, notebook.name


def test_every_tutorial_has_a_test_file_that_runs_it():
    """``tests/notebooks/test_NAME.py`` runs ``notebooks/NAME.ipynb`` (marked ``notebook``), for
    every tutorial and no other name."""
    folder = ROOT / "tests" / "notebooks"
    for notebook in NOTEBOOKS:
        path = folder / f"test_{notebook.stem}.py"
        assert path.is_file(), f"{notebook.name}: no {path.relative_to(ROOT)} runs it"
        text = path.read_text()
        assert f'NOTEBOOK = "{notebook.stem}"' in text and "pytest.mark.notebook" in text, path
    stems = {notebook.stem for notebook in NOTEBOOKS}
    assert not [p.name for p in folder.glob("test_*.py") if p.stem[len("test_"):] not in stems]
