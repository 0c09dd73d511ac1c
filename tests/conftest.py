"""Fixtures for every test folder: a folder of small image pairs, a local HTTP server, an empty
data cache, seeded simulated worms. Plain helper functions live in ``tests/helpers.py``."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from im2im_helpers.data import simulate
from tests.helpers import QuietHandler, smooth_pair, write


@pytest.fixture
def pair_folder(tmp_path: Path) -> Path:
    """Five 2D ``X_IM``/``X_GT`` pairs (48 x 64) with a learnable relation."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "pairs"
    folder.mkdir()
    for i in range(5):
        x, y = smooth_pair(rng)
        write(folder / f"img{i}_IM.ome.tiff", x)
        write(folder / f"img{i}_GT.ome.tiff", y)
    return folder


@pytest.fixture
def server(tmp_path):
    """``(root, base_url)``: files written under ``root`` are served at ``base_url``; the
    paths asked for are in ``QuietHandler.requests_seen``."""
    root = tmp_path / "www"
    root.mkdir()
    QuietHandler.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """``IM2IM_DATA`` (downloads, organised datasets, default split files) in an empty folder,
    for this process and the processes it starts."""
    monkeypatch.setenv("IM2IM_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def worm_pairs():
    """Six seeded simulated worm images (128 x 128) with their instance labels."""
    return simulate.worms(n_images=6, seed=0)
