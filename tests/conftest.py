"""Shared fixtures: small image folders in the layouts users have (written with our own io)."""

from __future__ import annotations

import functools
import http.server
import io as stdio
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from im2im_helpers import io


def write(path: Path, arr: np.ndarray, dims: str = "YX", pixel_sizes=(1.0, 0.5, 0.5)) -> Path:
    """Write ``arr`` as OME-TIFF at ``path`` and return the path."""
    return io.write_ome_tiff(path, arr, dims, pixel_sizes)


def smooth_pair(rng: np.random.Generator, shape=(48, 64)) -> tuple[np.ndarray, np.ndarray]:
    """An input and a target that is a simple function of it (learnable in a few steps)."""
    x = rng.normal(size=shape).astype(np.float32)
    from scipy import ndimage as ndi

    x = ndi.gaussian_filter(x, 2) * 10
    return x.astype(np.float32), (2 * x + 1).astype(np.float32)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = stdio.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def png_bytes(arr: np.ndarray, ext: str = ".png") -> bytes:
    """An image file's bytes (PNG, BMP, ... by ``ext``), written by imageio."""
    import imageio.v3 as iio

    buffer = stdio.BytesIO()
    iio.imwrite(buffer, arr, extension=ext)
    return buffer.getvalue()


def tar_gz_bytes(files: dict[str, bytes]) -> bytes:
    buffer = stdio.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as t:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            t.addfile(info, stdio.BytesIO(content))
    return buffer.getvalue()


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


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list[str] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        QuietHandler.requests_seen.append(self.path)
        if self.path.startswith("/truncated/"):  # promise the whole file, send half, hang up
            body = (Path(self.directory) / self.path.split("/", 2)[2]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.close()
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
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
