"""What this machine is: package versions and the compute device, for bug reports."""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import platform
from collections.abc import Sequence

PACKAGES = ("im2im-helpers", "torch", "lightning", "monai", "numpy", "scikit-image", "bioio",
            "aicsimageio", "matplotlib")


def accelerator() -> str:
    """``"gpu"`` when CUDA is available, ``"mps"`` on Apple silicon, else ``"cpu"``."""
    import torch

    if torch.cuda.is_available():
        return "gpu"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def package_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """``{package: version}`` for Python and the packages of :data:`PACKAGES` (and ``extra``)
    installed here."""
    versions = {"python": platform.python_version()}
    for name in (*PACKAGES, *extra):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment_report() -> str:
    """Python, package versions and device as text (paste it into a bug report)."""
    import torch

    versions = package_versions()
    lines = [f"python       {versions.pop('python')} ({platform.system()} {platform.machine()})"]
    lines += [f"{name:<12} {version}" for name, version in versions.items()]
    device = accelerator()
    if device == "gpu":
        device += f" ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    lines.append(f"device       {device}; CPU threads {torch.get_num_threads()}")
    return "\n".join(lines)


def cpu_cores() -> int:
    """CPU cores this process may run on (its affinity, where the system tells it)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_process(processes: int) -> int:
    """Torch threads for each of ``processes`` processes sharing this machine's cores, so that
    processes x threads do not exceed the cores (measured on 2 cores: two training processes
    with 2 threads each run a small 3D U-Net about 75 times slower than one; with 1 thread
    each, at full speed)."""
    return max(1, cpu_cores() // max(1, int(processes)))


def is_main_process() -> bool:
    """Whether this process is process 0 of a multi-process run started by Lightning's
    launcher, ``torchrun`` or SLURM (read from their environment variables), or not part of
    one. Only the main process writes a run's files."""
    import os

    for name in ("RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name]) == 0
    return all(os.environ.get(name, "0") in ("", "0") for name in ("NODE_RANK", "LOCAL_RANK"))


@contextlib.contextmanager
def logger_level(name: str, level: int):
    """Within the block, the logger ``name`` passes only records of ``level`` and above; its
    own level is restored afterwards (to quiet a library's expected chatter on a page)."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def release_freed_memory() -> bool:
    """Give the memory this process has freed back to the operating system (glibc's
    ``malloc_trim``; elsewhere nothing happens). Returns whether glibc was found.

    glibc keeps the heap that freed arrays leave, and it fragments: a streamed prediction that
    allocates and frees one block's arrays after another grows by hundreds of MB over a long
    image unless it trims after each block (measured by ``benchmarks/streaming.py``: peak
    resident memory +29 % from a 0.25 to a 16 GiB input without it). Trimming costs about a
    millisecond. (Fixing glibc's mmap threshold instead also keeps memory flat, but made
    torch's own computation about twice as slow.)
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def _glibc():
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None
