"""Helpers shared by tests in several folders: small files in the formats users have (written
with our own io or imageio), archives, and registry entries served from the local HTTP server
(the ``server`` fixture of ``tests/conftest.py``). Import them as ``from tests.helpers import``."""

from __future__ import annotations

import hashlib
import http.server
import io as stdio
import tarfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import yaml

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


def blob_image(seed: int, shape=(64, 64)) -> np.ndarray:
    """A (1, Y, X) image of 30 blurred points in [0, 1] (a clean fluorescence-like image)."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    img[tuple(rng.integers(4, s - 4, 30) for s in shape)] = 1
    img = ndi.gaussian_filter(img, 2)
    return (img / img.max())[None]


def texture_image(seed: int, shape=(64, 64)) -> np.ndarray:
    """A (1, Y, X) smooth random texture scaled to [0, 1]."""
    from scipy import ndimage as ndi

    img = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 3)
    return ((img - img.min()) / np.ptp(img))[None].astype(np.float32)


def labelled_blobs(seed: int, dark: bool = False, shape=(64, 64)):
    """An image of bright (or dark) discs on a noisy background, and their label image."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.int32)
    yy, xx = np.indices(shape)
    for k in range(1, 6):
        cy, cx = rng.integers(8, shape[0] - 8, 2)
        labels[np.hypot(yy - cy, xx - cx) <= 5] = k
    signal = (labels > 0).astype(np.float32)
    image = (1 - signal if dark else signal) + rng.normal(0, 0.3, shape).astype(np.float32)
    return image[None], labels[None].astype(np.float32)


def blob_pairs(n: int, dark: bool = False):
    """``n`` pairs of :func:`labelled_blobs` (input image, instance labels), marked simulated."""
    from im2im_helpers.data.pairs import Pair, Pairs

    return Pairs([Pair(f"img{i}", *labelled_blobs(i, dark)) for i in range(n)],
                 {"source": {"sample": "blobs"}}, simulated=True)


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


def tiff_bytes(tmp_path: Path, arr: np.ndarray, dims: str) -> bytes:
    """The bytes of ``arr`` written as OME-TIFF (through a file in ``tmp_path``)."""
    path = tmp_path / f"tmp-{hashlib.md5(arr.tobytes()).hexdigest()}.ome.tiff"
    io.write_ome_tiff(path, arr, dims, overwrite=True)
    return path.read_bytes()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """The local server's handler: records every request path; ``/truncated/NAME`` promises
    the whole file, sends half of it and hangs up."""

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


def serve_entry(server, name: str, payloads: list[bytes], **options):
    """The real registry entry ``name`` with its files served by ``server`` (their real names
    and unpack rules, sha256 of the tiny stand-ins); ``options`` replace organiser options."""
    from im2im_helpers.data import registry

    root, base = server
    entry = registry.get(name)
    files = []
    for spec, payload in zip(entry.files, payloads, strict=True):
        (root / spec.filename).write_bytes(payload)
        files.append(registry.RemoteFile(
            url=f"{base}/{spec.filename}", filename=spec.filename, unpack=spec.unpack,
            hash="sha256:" + hashlib.sha256(payload).hexdigest()))
    return registry.with_files(entry, files, **options)


def write_registry(folder: Path, *entries) -> Path:
    """A registry folder (for ``IM2IM_REGISTRY``) holding ``entries`` as YAML files."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        (folder / f"{entry.name}.yaml").write_text(yaml.safe_dump(asdict(entry)))
    return folder


def use(monkeypatch, entry) -> None:
    """Make ``registry.get(entry.name)`` return the locally served ``entry``."""
    from im2im_helpers.data import registry

    real_get = registry.get
    monkeypatch.setattr(registry, "get", lambda n: entry if n == entry.name else real_get(n))


def organised(entry, **options) -> dict:
    """Prepare ``entry`` and load its organised pairs: ``{"train": ..., "test": ...}``, or
    ``{"all": ...}`` for a dataset without a source split."""
    from im2im_helpers import data
    from im2im_helpers.data import registry

    folder = registry.prepare(entry, progress=False, **options)
    parts = [p for p in ("train", "test") if (folder / p).is_dir()]
    return {p or "all": data.load(folder / p, normalize_percentiles=None) for p in parts or [""]}


class FaultyHandler(http.server.BaseHTTPRequestHandler):
    """A server that misbehaves on purpose, for fault-injection tests of downloads.

    It serves the files of its server's ``root`` folder (attributes of the server object, see
    :func:`faulty_server`); each request takes the next fault from the server's ``faults`` list
    (none left: the file as it is):

    * ``("cut", n, with_length)``: the first ``n`` bytes of the file, then it hangs up; with the
      whole file's Content-Length, or without any (the end of the body is then the end of the
      connection, so a cut file looks complete);
    * ``("length", n)``: the whole file under a Content-Length of ``n`` (shorter: the client
      reads a cut file; longer: it waits for bytes that never come, then the server hangs up);
    * ``("swap", data)``: ``data`` instead of the file (another file, e.g. of the same length).

    Every path asked for is appended to the server's ``seen`` list.
    """

    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        server.seen.append(self.path)
        path = Path(server.root) / self.path.split("?")[0].lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        fault = server.faults.pop(0) if server.faults else None
        send, length = body, len(body)
        if fault is not None and fault[0] == "cut":
            send, length = body[: fault[1]], len(body) if fault[2] else None
        elif fault is not None and fault[0] == "length":
            length = fault[1]
        elif fault is not None and fault[0] == "swap":
            send, length = fault[1], len(fault[1])
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(send)
            self.wfile.flush()
        except OSError:  # the client stopped reading (a Content-Length shorter than the file)
            pass
        self.close_connection = True


def faulty_server(root: Path):
    """A started loopback server of :class:`FaultyHandler` serving ``root``, with ``root``,
    ``faults`` (to fill), ``seen`` and ``base`` (its URL); call ``shutdown()`` and
    ``server_close()`` when done."""
    import threading

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FaultyHandler)
    httpd.daemon_threads = True
    httpd.root, httpd.faults, httpd.seen = Path(root), [], []
    httpd.base = f"http://127.0.0.1:{httpd.server_port}"
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    return httpd


def tiny_regression_run(out: Path, pairs: int) -> Path:
    """A 2D regression run folder in ``out/run`` trained for one epoch on ``pairs`` smooth
    pairs (a U-Net with channels (4, 8), window 32 x 32): the run tests predict with."""
    from im2im_helpers import data, models, tasks, train

    folder = out / "pairs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(pairs):
        x, y = smooth_pair(rng)
        write(folder / f"img{i}_IM.ome.tiff", (x * 100 + 500).astype(np.float32))
        write(folder / f"img{i}_GT.ome.tiff", y)
    split = data.split(data.load(folder), test=1, val=1, path=out / "split.json")
    dm = data.patches(split, patch=(32, 32), batch_size=4, samples_per_image=2)
    net = models.build("unet", 2, channels=(4, 8), num_res_units=0)
    return train.fit(tasks.Supervised(net), dm, out / "run", max_epochs=1, progress=False).path


def one_torch_thread():
    """Torch on one thread while a test (or a session) runs, as a fixture body: the two cores
    are shared with other jobs. Register it in a folder's conftest with
    ``one_thread = pytest.fixture(autouse=True)(one_torch_thread)``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def noisy_pairs(shape, n: int, seed: int = 0):
    """``n`` in-memory pairs of a smooth clean image in [0, 1] (the target) and it plus Gaussian
    noise of sigma 0.2 (the input), ``(1, *shape)``: denoising data that learns in a few steps."""
    from scipy import ndimage as ndi

    from im2im_helpers.data.pairs import Pair, Pairs

    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        clean = ndi.gaussian_filter(rng.random(shape), 3)
        clean = ((clean - clean.min()) / np.ptp(clean))[None].astype(np.float32)
        noisy = clean + rng.normal(0, 0.2, clean.shape).astype(np.float32)
        items.append(Pair(f"img{i}", noisy, clean))
    return Pairs(items, {"source": {"folder": "memory"}})
