"""The weight formats a package can hold and their file names inside it (no heavy imports:
the command line's parser reads them)."""

from __future__ import annotations

#: The weight formats a package can hold, in the order they are written and tried.
WEIGHT_FORMATS = ("pytorch_state_dict", "torchscript", "onnx")

#: File name of each format inside a package.
FILE_NAMES = {"pytorch_state_dict": "weights.pt", "torchscript": "weights_torchscript.pt",
              "onnx": "weights.onnx"}
