"""What this machine is: package versions and the compute device, for bug reports."""

from __future__ import annotations

import importlib.metadata
import platform

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


def environment_report() -> str:
    """Python, package versions and device as text (paste it into a bug report)."""
    import torch

    lines = [f"python       {platform.python_version()} ({platform.system()} {platform.machine()})"]
    for name in PACKAGES:
        try:
            lines.append(f"{name:<12} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    device = accelerator()
    if device == "gpu":
        device += f" ({torch.cuda.get_device_name(0)}, {torch.cuda.device_count()} device(s))"
    lines.append(f"device       {device}; CPU threads {torch.get_num_threads()}")
    return "\n".join(lines)
