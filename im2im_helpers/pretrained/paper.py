"""The MMV_Im2Im paper's inference configurations, one per application, and which checkpoint
of its model archive (Zenodo 10034416, ``models.zip``) each belongs to.

The archive holds checkpoints only; their configurations are the ``paper_configs/*_inference.yaml``
files of the MMV_Im2Im repository (MIT licence). :data:`PAPER_CONFIGS` restates, in MMV_Im2Im's
own layout, the parts of those files that decide the network and the prediction: ``model``
(``framework``, ``net``, ``model_extra``) and ``data`` (``preprocess``, ``postprocess``); paths
and trainer settings are left out. The archive's documented folders are ``labelfree/2d``,
``denoising`` and ``multiplex``; the other applications' folders are matched by the words in
their names (:func:`match`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Where the configurations come from.
SOURCE = "https://github.com/MMV-Lab/mmv_im2im/tree/main/paper_configs"


@dataclass(frozen=True)
class PaperConfig:
    """One application of the paper: its configuration and where it is taught here.

    Attributes
    ----------
    name : str
        Key in :data:`PAPER_CONFIGS`, e.g. ``"denoising_3d"``.
    source : str
        The MMV_Im2Im file the configuration restates.
    tutorial : str
        The tutorial of this repository for the same task (``notebooks/<tutorial>.ipynb``).
    words : tuple of frozenset of str
        Words of a checkpoint's path (folder and file names split at ``/ _ - .``,
        lower case) that identify the application: any one set, all its words present.
    config : dict
        The configuration in MMV_Im2Im's layout (``model`` and ``data`` sections).
    """

    name: str
    source: str
    tutorial: str
    words: tuple[frozenset[str], ...]
    config: dict = field(repr=False)


def _monai(func: str, **params) -> dict:
    return {"module_name": "monai.networks.nets", "func_name": func, "params": params}


def _transform(func: str, module: str = "monai.transforms", **params) -> dict:
    step = {"module_name": module, "func_name": func}
    return {**step, "params": params} if params else step


def _window(roi: list[int], overlap: float = 0.2) -> dict:
    return {"sliding_window_params": {"roi_size": roi, "sw_batch_size": 4, "overlap": overlap,
                                      "mode": "gaussian"}}


def _segmentation(channel: int, cutoff: float | str, **extra) -> list[dict]:
    return [_transform("extract_segmentation", "mmv_im2im.postprocessing.basic_collection",
                       channel=channel, cutoff=cutoff, **extra)]


_FNET_2D = {"module_name": "mmv_im2im.models.nets.fnet_nn_2d", "func_name": "Net",
            "params": {"depth": 4, "mult_chan": 32}}
_FNET_3D = {"module_name": "mmv_im2im.models.nets.fnet_nn_3d", "func_name": "Net",
            "params": {"depth": 4, "mult_chan": 32, "in_channels": 1, "out_channels": 1}}


def _aics_unet3d(n_classes: int, down_ratio: int) -> dict:
    return {"module_name": "aicsmlsegment.NetworkArchitecture.unet_xy_zoom_0pad_single",
            "func_name": "UNet3D",
            "params": {"in_channel": 1, "n_classes": n_classes, "down_ratio": down_ratio}}


def _discriminator(kind: str, dims: int, in_channels: int, n_layers: int, **extra) -> dict:
    return {"type": kind, "params": {"spatial_dims": dims, "in_channels": in_channels,
                                     "n_layers": n_layers, "nf": 64, "norm_layer": "INSTANCE",
                                     **extra}}


def _percentiles(lower: float, upper: float, b_min: float, b_max: float) -> list[dict]:
    return [_transform("ScaleIntensityRangePercentiles", lower=lower, upper=upper, b_min=b_min,
                       b_max=b_max)]


def _config(framework: str, net: dict, preprocess: list[dict], model_extra: dict | None = None,
            postprocess: list[dict] | None = None) -> dict:
    model = {"framework": framework, "net": net}
    if model_extra:
        model["model_extra"] = model_extra
    data = {"preprocess": preprocess}
    if postprocess:
        data["postprocess"] = postprocess
    return {"mode": "inference", "model": model, "data": data}


def _words(*sets: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(s.split()) for s in sets)


_ENTRIES = [
    PaperConfig(
        "labelfree_2d", "paper_configs/labelfree_2d_FCN_inference.yaml", "01_labelfree_2d",
        _words("labelfree 2d", "label free 2d"),
        _config("FCN", _FNET_2D, [_transform("NormalizeIntensity")], _window([512, 512]))),
    PaperConfig(
        "labelfree_3d", "paper_configs/labelfree_3d_FCN_inference.yaml", "09_labelfree_3d",
        _words("labelfree 3d", "label free 3d"),
        _config("FCN", _FNET_3D,
                [_transform("norm_around_center", "mmv_im2im.preprocessing.transforms",
                            min_z=32)],
                _window([32, 128, 128]))),
    PaperConfig(
        "denoising_3d", "paper_configs/denoising_3d_inference.yaml", "02_denoising",
        _words("denoising", "denoise"),
        _config("FCN", _monai("UNet", spatial_dims=3, in_channels=1, out_channels=1,
                              channels=[64, 128, 256, 512], strides=[2, 2, 2],
                              num_res_units=3, norm="BATCH"),
                _percentiles(3, 99.9, 0, 1), _window([32, 512, 512]))),
    PaperConfig(
        "modality_transfer_3d", "paper_configs/modality_transfer_3d_inference.yaml",
        "03_modality_transfer", _words("modality", "sted"),
        _config("FCN", _aics_unet3d(1, 2), _percentiles(0.01, 99.99, -1, 1),
                _window([6, 512, 512]))),
    PaperConfig(
        "semantic_seg_2d", "paper_configs/semantic_seg_2d_inference.yaml",
        "04_semantic_segmentation", _words("semantic 2d", "semanticseg 2d", "glas"),
        _config("FCN", _monai("AttentionUnet", spatial_dims=2, in_channels=3, out_channels=2,
                              channels=[32, 64, 128, 256, 512, 1024], strides=[2, 2, 2, 2, 2]),
                [_transform("normalize_staining", "mmv_im2im.preprocessing.transforms")],
                _window([512, 512]), _segmentation(1, 0.5, batch_dim=True))),
    PaperConfig(
        "semantic_seg_3d", "paper_configs/semantic_seg_3d_inference.yaml",
        "04_semantic_segmentation", _words("semantic 3d", "semanticseg 3d"),
        _config("FCN", _monai("DynUnet", spatial_dims=3, in_channels=1, out_channels=2,
                              strides=[[1, 1, 1], [1, 2, 2], [1, 1, 1], [2, 2, 2]],
                              kernel_size=[[3, 3, 3]] * 4,
                              upsample_kernel_size=[[1, 2, 2], [1, 1, 1], [2, 2, 2]],
                              filters=[64, 128, 128, 256], dropout=0.2, res_block=True),
                [_transform("NormalizeIntensity")], _window([32, 512, 512]),
                _segmentation(1, "otsu", batch_dim=True))),
    PaperConfig(
        "instance_seg_2d", "paper_configs/instance_seg_2d_inference.yaml",
        "05_instance_segmentation", _words("instance 2d", "instanceseg 2d", "embedseg 2d"),
        _config("embedseg", {"module_name": "mmv_im2im.models.nets.BranchedERFNet_2d",
                             "func_name": "BranchedERFNet_2d",
                             "params": {"num_classes": [4, 1], "input_channels": 1}},
                [*_percentiles(0.05, 99.95, 0, 1), _transform("DivisiblePad", k=8)])),
    PaperConfig(
        # Three checkpoints (brightfield, fluorescence, fibrillarin), all on the same network.
        "instance_seg_3d", "paper_configs/instance_seg_3d_inference_fluo.yaml",
        "06_instances_worms_3d_labelfree",
        _words("instance 3d", "instanceseg 3d", "embedseg 3d"),
        _config("embedseg", _aics_unet3d(7, 4),
                [_transform("NormalizeIntensity"), _transform("DivisiblePad", k=8)],
                _window([32, 512, 512], 0.6))),
    PaperConfig(
        # Three checkpoints: IHC to hematoxylin, to mpIF DAPI and to mpIF Lap2.
        "multiplex", "paper_configs/multiplex_inference.yaml", "07_stain_transfer",
        _words("multiplex", "staining", "stain"),
        _config("pix2pix",
                {"generator": {"type": "predefined_unet",
                               "params": {"spatial_dims": 2, "in_channels": 3,
                                          "out_channels": 1,
                                          "channels": [64, 128, 256, 512, 512],
                                          "strides": [2, 2, 2, 2]}},
                 "discriminator": _discriminator("predefined_multiscale", 2, 4, 4,
                                                 num_discriminator=2)},
                [_transform("NormalizeIntensity", channel_wise=True)])),
    PaperConfig(
        "synthetic_2d_supervised", "paper_configs/synthetic_2d_supervised_inference.yaml",
        "08b_synthesis_realism",
        _words("synthetic 2d supervised", "synthetic 2d pix2pix"),
        _config("pix2pix",
                {"generator": _monai("AttentionUnet", spatial_dims=2, in_channels=1,
                                     out_channels=1, channels=[32, 64, 128, 256, 512],
                                     strides=[2, 2, 2, 2]),
                 "discriminator": _discriminator("predefined_multiscale", 2, 2, 4,
                                                 num_discriminator=2)},
                _percentiles(0, 100, -1, 1), _window([512, 512]))),
    PaperConfig(
        "synthetic_2d_unsupervised", "paper_configs/synthetic_2d_unsupervised_inference.yaml",
        "08b_synthesis_realism",
        _words("synthetic 2d unsupervised", "synthetic 2d cyclegan"),
        _config("cyclegan",
                {"generator": {"type": "predefined_resnet",
                               "params": {"spatial_dims": 2, "in_channels": 1,
                                          "out_channels": 1, "n_down_blocks": 4,
                                          "n_res_blocks": 9, "nf": 64, "norm_layer": "BATCH"}},
                 "discriminator": _discriminator("predefined_basic", 2, 1, 4)},
                _percentiles(0, 100, -1, 1),
                {"inference_direction": "AtoB", **_window([256, 256])})),
    PaperConfig(
        "synthetic_3d_supervised", "paper_configs/synthetic_3d_supervised_inference.yaml",
        "08b_synthesis_realism",
        _words("synthetic 3d supervised", "synthetic 3d pix2pix"),
        _config("pix2pix",
                {"generator": _FNET_3D,
                 "discriminator": _discriminator("predefined_multiscale", 3, 2, 3,
                                                 num_discriminator=2)},
                _percentiles(0, 100, -1, 1), _window([32, 256, 256]))),
    PaperConfig(
        "synthetic_3d_unsupervised", "paper_configs/synthetic_3d_unsupervised_inference.yaml",
        "08b_synthesis_realism",
        _words("synthetic 3d unsupervised", "synthetic 3d cyclegan"),
        _config("cyclegan",
                {"generator": _aics_unet3d(1, 3),
                 "discriminator": _discriminator("predefined_basic", 3, 1, 4)},
                _percentiles(0, 100, -1, 1),
                {"inference_direction": "AtoB", **_window([32, 192, 192])})),
    PaperConfig(
        "unsupervised_seg_2d", "paper_configs/unsupervised_seg_2d_inference.yaml",
        "08_segmentation_unpaired", _words("unsupervised 2d", "cyclegan 2d"),
        _config("cyclegan",
                {"generator": _monai("AttentionUnet", spatial_dims=2, in_channels=1,
                                     out_channels=1, channels=[32, 64, 128, 512],
                                     strides=[2, 2, 2]),
                 "discriminator": _discriminator("predefined_basic", 2, 1, 4)},
                _percentiles(0.1, 99.9, -1, 1),
                {"inference_direction": "AtoB", **_window([512, 512])},
                _segmentation(0, 1e-08))),
    PaperConfig(
        "unsupervised_seg_3d", "paper_configs/unsupervised_seg_3d_inference.yaml",
        "08_segmentation_unpaired", _words("unsupervised 3d", "cyclegan 3d"),
        _config("cyclegan",
                {"generator": _aics_unet3d(1, 3),
                 "discriminator": _discriminator("predefined_basic", 3, 1, 4)},
                _percentiles(0.1, 99.9, -1, 1),
                {"inference_direction": "AtoB", **_window([64, 192, 192])},
                _segmentation(0, 1e-08))),
]

#: The paper's applications by name, in the order :func:`match` tries them (the synthetic
#: ones before unsupervised segmentation: their paths may hold both words).
PAPER_CONFIGS: dict[str, PaperConfig] = {
    e.name: e for e in sorted(_ENTRIES, key=lambda e: not e.name.startswith("synthetic"))}


def path_words(relative: str) -> set[str]:
    """The lower-case words of a path: its parts split at ``/``, ``_``, ``-``, ``.`` and
    spaces (``"models/labelfree/2d/fnet.ckpt"`` -> ``{"models", "labelfree", "2d", "fnet",
    "ckpt"}``)."""
    return {w for w in re.split(r"[/\\_\-.\s]+", relative.lower()) if w}


def match(relative: str) -> PaperConfig | None:
    """The application of a checkpoint from its path inside the archive, or ``None``.

    Parameters
    ----------
    relative : str
        The path below the unpacked archive, e.g. ``"models/denoising/tribolium.ckpt"``.

    Returns
    -------
    PaperConfig or None
        The first application (in :data:`PAPER_CONFIGS` order) one of whose word sets the path
        holds entirely; ``None`` when none does.
    """
    words = path_words(relative)
    for entry in PAPER_CONFIGS.values():
        if any(required <= words for required in entry.words):
            return entry
    return None
