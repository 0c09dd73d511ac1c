"""The notebook tests' runner: a tutorial executed at the smoke level in a fresh process, as
``make tutorials`` runs it, optionally on a registry dataset served from the local HTTP server.

Every test that runs a tutorial must be marked ``pytest.mark.notebook`` (the runner refuses
otherwise), so that ``pytest -m "not notebook"`` never executes one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import serve_entry, write_registry
from tests.notebooks.helpers import NOTEBOOKS_DIR

#: A folder where the plain smoke-level run of each tutorial is kept (``make test`` sets it): CI
#: builds the book from these notebooks instead of executing every tutorial a second time.
KEEP_EXECUTED = "IM2IM_KEEP_EXECUTED"


@pytest.fixture
def run_tutorial(tmp_path, request):
    """``run(notebook, env=None, **parameters)``: execute ``notebooks/NOTEBOOK.ipynb`` at the smoke
    level with papermill ``parameters`` (``python -m im2im_helpers.dev.tutorials --no-book``),
    in ``env``; return its output folder (``metrics.json``, ``figures/``, ``predictions/``,
    split files and runs)."""

    def run(notebook: str, env: dict | None = None, **parameters: str) -> Path:
        assert request.node.get_closest_marker("notebook"), (
            f"{request.node.nodeid} executes a notebook: mark it pytest.mark.notebook")
        out = tmp_path / "out"
        if os.environ.get(KEEP_EXECUTED) and env is None and not parameters:
            out = Path(os.environ[KEEP_EXECUTED])  # the plain run, kept for the book (CI)
        # In a fresh process, as `make tutorials` runs it: a kernel client inside the test
        # process could hang on state that earlier tests left behind (seen after Lightning runs).
        options = [a for name, value in parameters.items() for a in ("-p", name, value)]
        done = subprocess.run([sys.executable, "-m", "im2im_helpers.dev.tutorials", "--no-book",
                               "--level", "smoke",
                               "--out", str(out), *options,
                               str(NOTEBOOKS_DIR / f"{notebook}.ipynb")],
                              capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return out / notebook

    return run


@pytest.fixture
def serve_registry_entry(server, tmp_path):
    """``serve(name, *archives, options=None)``: serve ``archives`` as the files of registry
    entry ``name`` (in its order), with ``options`` replacing some of its organiser options;
    return the environment that points a tutorial at this local copy (its own registry folder
    and data cache)."""

    def serve(name: str, *archives: bytes, options: dict | None = None) -> dict:
        entry = serve_entry(server, name, list(archives), **(options or {}))
        write_registry(tmp_path / "registry", entry)
        return {**os.environ, "IM2IM_REGISTRY": str(tmp_path / "registry"),
                "IM2IM_DATA": str(tmp_path / "cache")}

    return serve
