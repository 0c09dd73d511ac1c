"""Weight files of a package: a plain PyTorch state dict, TorchScript and ONNX, written from
the same network, and what each computes.

TorchScript archives normally record, in their ``*.debug_pkl`` members, the absolute paths of
the Python files they were compiled from (the user's environment); those members only serve
error messages and are dropped, so a package never carries a path of the machine that made it.
"""

from __future__ import annotations

import contextlib
import io as stdio
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

#: ONNX operator set the exports use (InstanceNormalization, ConvTranspose, Sigmoid...).
ONNX_OPSET = 17

#: Warnings of the exporters about the exporters themselves (deprecation of TorchScript and of
#: the TorchScript-based ONNX exporter; instance norm exported in eval mode, as intended).
EXPORTER_WARNINGS = (r".*torch\.jit\..* is deprecated.*", r".*dynamo=False.*",
                     r".*legacy TorchScript-based ONNX export.*",
                     r".*instance_norm.*train=True.*", r".*TorchScript type system.*",
                     r".*Converting a tensor to a Python.*", r".*Tracer.*")


@contextlib.contextmanager
def quiet_exporters():
    """Within the block, the warnings of :data:`EXPORTER_WARNINGS` are not shown."""
    with warnings.catch_warnings():
        for pattern in EXPORTER_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        yield


def write_state_dict(network: nn.Module, path: Path) -> Path:
    """Write the network's parameters as a plain state dict (names to tensors, nothing else:
    what ``torch.load(..., weights_only=True)`` reads)."""
    state = {k: v.detach().cpu().contiguous() for k, v in network.state_dict().items()}
    torch.save(state, path)
    return path


def _without_debug_info(archive: bytes) -> bytes:
    """A TorchScript archive without its ``*.debug_pkl`` members (source paths)."""
    out = stdio.BytesIO()
    with zipfile.ZipFile(stdio.BytesIO(archive)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            if not info.filename.endswith(".debug_pkl"):
                dst.writestr(info, src.read(info.filename))
    return out.getvalue()


def write_torchscript(network: nn.Module, path: Path, example: torch.Tensor) -> Path:
    """Write the network as TorchScript: compiled by ``torch.jit.script`` (any input size),
    traced with ``example`` when it cannot be compiled."""
    network = network.eval()
    buffer = stdio.BytesIO()
    with quiet_exporters():
        try:
            compiled = torch.jit.script(network)
        except Exception:  # noqa: BLE001 - any failure of the compiler falls back to tracing
            with torch.no_grad():
                compiled = torch.jit.trace(network, example)
        torch.jit.save(compiled, buffer)
    path.write_bytes(_without_debug_info(buffer.getvalue()))
    return path


def write_onnx(network: nn.Module, path: Path, example: torch.Tensor) -> Path:
    """Write the network as ONNX (opset :data:`ONNX_OPSET`), batch and spatial sizes dynamic.

    Raises whatever the exporter raises for a network it cannot export."""
    dims = example.ndim - 2
    dynamic = {0: "batch", **{i + 2: axis for i, axis in enumerate("zyx"[3 - dims:])}}
    buffer = stdio.BytesIO()
    with quiet_exporters(), torch.no_grad():
        torch.onnx.export(network.eval(), (example,), buffer, dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": dynamic, "output": dynamic},
                          opset_version=ONNX_OPSET)
    path.write_bytes(buffer.getvalue())
    return path


def runner(weight_format: str, path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A function of a float32 batch to the network's outputs computed from the weight file
    ``path`` of ``weight_format`` (``torchscript`` by torch, ``onnx`` by onnxruntime on the
    CPU)."""
    if weight_format == "torchscript":
        module = torch.jit.load(str(path), map_location="cpu").eval()

        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return module(torch.from_numpy(x)).numpy()

        return run
    if weight_format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    raise ValueError(f"weight format {weight_format!r}: runs exist for torchscript and onnx; "
                     "a state dict needs its architecture.")
