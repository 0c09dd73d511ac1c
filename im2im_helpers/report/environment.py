"""Where a report is written: package versions, the machine and device, the git commit of the
helper package's source tree."""

from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from im2im_helpers import system

#: Packages listed besides :data:`im2im_helpers.system.PACKAGES` when installed.
MORE_PACKAGES = ("scipy", "pillow", "bioimageio.core", "bioimageio.spec", "onnx", "onnxruntime")


def versions() -> dict[str, str]:
    """``{package: version}``: Python, :data:`im2im_helpers.system.PACKAGES` and
    :data:`MORE_PACKAGES`, those installed here."""
    return system.package_versions(MORE_PACKAGES)


def machine() -> dict[str, str]:
    """Operating system, processor, cores, torch threads and compute device."""
    import torch

    device = system.accelerator()
    if device == "gpu":
        device += f" ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    return {
        "operating system": platform.platform(),
        "processor": platform.machine() or "unknown",
        "CPU cores usable": str(system.cpu_cores()),
        "torch threads": str(torch.get_num_threads()),
        "device": device,
    }


@dataclass
class Commit:
    """The git state of a source tree: ``commit`` is ``None`` when it is not a git checkout
    (``reason`` says why); ``changed`` lists tracked files that differ from the commit,
    ``untracked`` files git does not track (nor ignore)."""

    folder: Path
    commit: str | None
    changed: list[str]
    untracked: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def dirty(self) -> bool:
        """Whether the tree differs from the commit (changed or untracked files)."""
        return bool(self.changed or self.untracked)


def _git(folder: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                            timeout=60, check=True,
                            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    return result.stdout


def commit(folder: str | os.PathLike | None = None) -> Commit:
    """The git commit of ``folder`` (by default the source tree of ``im2im_helpers``) and
    whether its tracked files were changed since; never raises for a folder outside git or a
    machine without git (``commit`` is then ``None``)."""
    import im2im_helpers

    folder = Path(folder) if folder is not None else Path(im2im_helpers.__file__).parent
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel").strip())
        head = _git(folder, "rev-parse", "HEAD").strip()
        status = _git(top, "status", "--porcelain", "--untracked-files=all")
    except FileNotFoundError:
        return Commit(folder, None, [], reason="git is not installed on this machine")
    except subprocess.CalledProcessError as err:
        said = (err.stderr or "").strip().splitlines()
        return Commit(folder, None, [],
                      reason=f"not a git checkout ({said[0] if said else 'git failed'})")
    except subprocess.TimeoutExpired:
        return Commit(folder, None, [], reason="git did not answer within 60 s")
    lines = [line for line in status.splitlines() if line.strip()]
    return Commit(top, head, [line[3:] for line in lines if not line.startswith("??")],
                  [line[3:] for line in lines if line.startswith("??")])
