"""The MMV_Im2Im paper's pretrained models (and any MMV_Im2Im checkpoint) as tasks of this
package.

:mod:`~im2im_helpers.pretrained.mmv` reads a checkpoint with ``weights_only=True``, builds the
network its MMV_Im2Im configuration describes with :func:`im2im_helpers.models.build`, loads the
weights with every key and shape matching, and wraps it in the task of its framework
(:func:`load`); :func:`catalog` lists the checkpoints of the paper's archive (registry entry
``mmv-im2im-models``) with their application, tutorial and whether they map, and
:func:`paper_model` loads one by name. :mod:`~im2im_helpers.pretrained.mapping` maps MONAI
network configurations and MMV_Im2Im's FNet (pytorch_fnet's U-Net) onto our builder,
:mod:`~im2im_helpers.pretrained.normalization` reproduces MMV_Im2Im's input normalisation,
:mod:`~im2im_helpers.pretrained.mmv_config` reads its YAML layout and
:mod:`~im2im_helpers.pretrained.paper` holds the paper's configurations.

Examples
--------
>>> for entry in pretrained.catalog():                       # doctest: +SKIP
...     print(entry.name, entry.maps, entry.reason)
>>> model = pretrained.paper_model("denoising/tribolium")   # doctest: +SKIP
>>> restored = model.predict(noisy_stack)                     # doctest: +SKIP
"""

from __future__ import annotations

from im2im_helpers.pretrained.errors import (
    CheckpointError,
    ConfigError,
    PretrainedError,
    UnmappableError,
    UnsupportedPreprocessingError,
)
from im2im_helpers.pretrained.mapping import NetworkMapping, map_network
from im2im_helpers.pretrained.mmv import (
    CatalogEntry,
    Pretrained,
    catalog,
    checkpoints,
    load,
    paper_model,
    read_state_dict,
    table,
)
from im2im_helpers.pretrained.normalization import Normalization
from im2im_helpers.pretrained.paper import PAPER_CONFIGS, PaperConfig

__all__ = ["PAPER_CONFIGS", "CatalogEntry", "CheckpointError", "ConfigError", "NetworkMapping",
           "Normalization", "PaperConfig", "Pretrained", "PretrainedError", "UnmappableError",
           "UnsupportedPreprocessingError", "catalog", "checkpoints", "load", "map_network",
           "paper_model", "read_state_dict", "table"]
