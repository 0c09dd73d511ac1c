"""Real microscopy images that install offline with PyPI packages, as training pairs."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from pathlib import Path

import numpy as np

from im2im_helpers import io
from im2im_helpers.data.pairs import Pair, Pairs, check_finite, halves, percentile_normalize

NDEV_SCRATCH_ASSAY = "scratch-assay-labeled-10T-2Ch.tiff"


def package_file(package: str, relative: str, extra: str = "samples") -> Path:
    """Path of a data file shipped inside an installed package.

    Raises
    ------
    ImportError
        Naming the ``im2im-helpers`` extra that installs ``package``.
    """
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as err:
        raise ImportError(
            f"The sample data needs the package {package!r}, which is not installed. Install it "
            f'with `pip install "im2im-helpers[{extra}]"` (or `pip install {package}`).'
        ) from err
    path = Path(str(root / relative))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expected inside the installed package {package!r}.")
    return path


def _ndev_scratch_assay() -> tuple[Path, io.Image]:
    path = package_file("ndev_sampledata", f"samples/{NDEV_SCRATCH_ASSAY}")
    return path, io.read(path)


def _per_frame(name: str, input_channel: int, target_channel: int) -> Pairs:
    path, img = _ndev_scratch_assay()
    pairs = Pairs(config={"source": {"sample": name}}, simulated=False)
    for t in range(img.data.shape[0]):
        x = img.data[t, input_channel : input_channel + 1, 0].astype("float32")
        y = img.data[t, target_channel : target_channel + 1, 0].astype("float32")
        check_finite(x, f"{path} (T={t}, C={input_channel})")
        pairs.append(
            Pair(f"t{t:02d}", x, y, None, img.pixel_sizes,
                 {"file": str(path), "t": t, "input_channel": input_channel,
                  "target_channel": target_channel})
        )
    return pairs


def ndev_labelfree() -> Pairs:
    """Label-free pairs from ``ndev-sampledata``'s scratch-assay time-lapse (real data).

    One pair per time point (``t00`` ... ``t09``): oblique transmitted light (channel 1) as
    input, the Hoechst nuclear stain (channel 0) as target; 210 x 576 pixels of 0.619 um.
    """
    return _per_frame("ndev-labelfree", 1, 0)


def ndev_nuclei() -> Pairs:
    """Hoechst image -> nuclei instance labels (59-83 per frame), per time point (real data)."""
    return _per_frame("ndev-nuclei", 0, 2)


def ndev_nuclei_from_transmitted() -> Pairs:
    """Transmitted light -> nuclei instance labels, per time point (real data)."""
    return _per_frame("ndev-nuclei-from-transmitted", 1, 2)


def ndev_cytoplasm() -> Pairs:
    """Transmitted light -> cytoplasm instance labels (66-103 per frame), per time point."""
    return _per_frame("ndev-cytoplasm", 1, 3)


def _single(name: str, image: str, mask: str, dims: int) -> Pairs:
    x_path = package_file("stardist", f"data/images/{image}")
    y_path = package_file("stardist", f"data/images/{mask}")
    x, y = io.read(x_path), io.read(y_path)
    to_array = (lambda d: d[0, :, 0]) if dims == 2 else (lambda d: d[0])  # noqa: E731
    return Pairs([Pair(name, to_array(x.data).astype("float32"), to_array(y.data).astype(
        "float32"), None, x.pixel_sizes, {"input": str(x_path), "target": str(y_path)})],
        {"source": {"sample": name}}, simulated=False)


def stardist_nuclei_2d() -> Pairs:
    """``stardist``'s 2D fluorescent nuclei (DSB2018, 512 x 512) with 125 instance labels."""
    return _single("stardist-nuclei-2d", "img2d.tif", "mask2d.tif", 2)


def stardist_nuclei_3d() -> Pairs:
    """``stardist``'s synthetic 3D nuclei (31 x 61 x 57) with 51 instance labels."""
    return _single("stardist-nuclei-3d", "img3d.tif", "mask3d.tif", 3)


def fluorescent_nuclei_2d() -> Pairs:
    """Clean 2D fluorescent nuclei (real data; add noise for denoising).

    The 10 Hoechst frames of
    ``ndev-sampledata`` (``ndev-t00`` ... ``ndev-t09``) and ``stardist``'s 2D nuclei cut into a
    left and a right half (``stardist-left``, ``stardist-right``), so one image can train and
    test. Input and target are both the clean image, percentile-normalised (1, 99.8) and clipped
    to [0, 1]: add noise with :mod:`im2im_helpers.data.simulate`."""
    path, img = _ndev_scratch_assay()
    planes = {f"ndev-t{t:02d}": img.data[t, 0:1, 0] for t in range(img.data.shape[0])}
    nuclei = _single("stardist-nuclei-2d", "img2d.tif", "mask2d.tif", 2)[0].input
    half = nuclei.shape[-1] // 2
    planes.update({"stardist-left": nuclei[..., :half], "stardist-right": nuclei[..., half:]})
    pairs = Pairs(config={"source": {"sample": "fluorescent-nuclei-2d"}}, simulated=False)
    for name, plane in planes.items():
        clean = percentile_normalize(plane.astype("float32"), 1, 99.8).clip(0, 1)
        sizes = img.pixel_sizes if name.startswith("ndev") else (None, None, None)
        pairs.append(Pair(name, clean, clean.copy(), None, sizes, {"image": name}))
    return pairs


def nuclei_instances_2d() -> Pairs:
    """Real 2D nuclei with instance labels, from two microscopes (real data).

    The 10 Hoechst frames of ``ndev-sampledata``'s scratch assay (``ndev-t00`` ...
    ``ndev-t09``, 59-83 nuclei each, 0.619 um pixels) and ``stardist``'s 2D nuclei cut into a
    left and a right half (``stardist-left``, ``stardist-right``, 512 x 256 each), so that one
    half can train and the other test. Inputs are raw intensities (normalise with
    :func:`im2im_helpers.data.load`); targets are label images (0 = background). A nucleus cut
    by the halving keeps its label on both sides: each half holds one part of it.
    """
    path, img = _ndev_scratch_assay()
    pairs = Pairs(config={"source": {"sample": "nuclei-instances-2d"}}, simulated=False)
    for t in range(img.data.shape[0]):
        x = img.data[t, 0:1, 0].astype("float32")
        check_finite(x, f"{path} (T={t}, C=0)")
        pairs.append(Pair(f"ndev-t{t:02d}", x, img.data[t, 2:3, 0].astype("float32"), None,
                          img.pixel_sizes, {"file": str(path), "t": t}))
    for half in halves(_single("stardist", "img2d.tif", "mask2d.tif", 2)):
        pairs.append(half)
    return pairs


#: Regions ``(rows, columns)`` of ``ndev-sampledata``'s neuron image (623 x 502): the right
#: half tests (edge of the cell body, two growth cones); of the left half, the top 200 rows
#: validate and the rest trains (with the whole left half of the AF568 channel).
NEURON_REGIONS = {"af568-train": ((0, None), (0, 251)),
                  "phalloidin-train": ((200, None), (0, 251)),
                  "phalloidin-val": ((0, 200), (0, 251)),
                  "phalloidin-test": ((0, None), (251, None))}


def neuron_sharp_2d() -> Pairs:
    """Sharp 2D actin filaments and filopodia of a neuron (real data; blur for deconvolution).

    The phalloidin
    (AF488: actin filaments, filopodia) and AF568 channels of ``ndev-sampledata``'s neuron, cut
    into regions (:data:`NEURON_REGIONS`): ``af568-train``, ``phalloidin-train``,
    ``phalloidin-val``, ``phalloidin-test``. Percentile-normalised (1, 99.8) per channel and
    clipped to [0, 1]; input and target are both the sharp image: blur it with
    :func:`im2im_helpers.data.simulate.confocal_like`.
    """
    path = package_file("ndev_sampledata", "samples/neuron-4Ch.tiff")
    img = io.read(path)
    pairs = Pairs(config={"source": {"sample": "neuron-sharp-2d"}}, simulated=False)
    for name, region in NEURON_REGIONS.items():
        channel = 1 if name.startswith("af568") else 2
        plane = percentile_normalize(img.data[0, channel : channel + 1, 0], 1, 99.8).clip(0, 1)
        rows, cols = (slice(*r) for r in region)
        crop = np.ascontiguousarray(plane[:, rows, cols])
        pairs.append(Pair(name, crop, crop.copy(), None, img.pixel_sizes,
                          {"file": str(path), "channel": channel,
                           "region": [list(r) for r in region]}))
    return pairs


#: Regions ``(rows, columns)`` of ``skimage``'s IHC image (512 x 512): the top half trains,
#: the bottom-left quadrant validates, the bottom-right quadrant (a gland in cross-section)
#: tests. Regions do not overlap.
IHC_REGIONS = {"ihc-train": ((0, 256), (0, 512)),
               "ihc-val": ((256, 512), (0, 256)),
               "ihc-test": ((256, 512), (256, 512))}

#: Percentiles of the whole image's hematoxylin channel that :func:`ihc_hematoxylin` maps to 0
#: and 1 (then clipped to [0, 1]).
IHC_PERCENTILES = (1.0, 99.8)


def ihc_hematoxylin() -> Pairs:
    """IHC colour image -> its hematoxylin channel, **computed** by colour deconvolution.

    ``skimage``'s immunohistochemistry image (colonic glands; DAB, brown, and a hematoxylin
    counterstain, blue; 512 x 512 RGB) as input, ``(3, Y, X)`` scaled from 8 bits to [0, 1].
    The target ``(1, Y, X)`` is the hematoxylin channel of :func:`skimage.color.rgb2hed`
    (Ruifrok & Johnston's colour deconvolution with fixed stain vectors), percentile-normalised
    over the whole image (:data:`IHC_PERCENTILES`) and clipped to [0, 1]. The image is real;
    the target is not measured but calculated from it, so a model has to learn a colour
    deconvolution. The pairs are cut into the regions of :data:`IHC_REGIONS` (``ihc-train``,
    ``ihc-val``, ``ihc-test``); ``config["targets"]`` and every ``origin`` record how the target was
    made.
    """
    from skimage.color import rgb2hed

    path = package_file("skimage", "data/ihc.png")
    rgb = io.read(path).data[0, :3, 0]  # (3, Y, X), uint8
    check_finite(rgb.astype("float32"), str(path))
    hematoxylin = rgb2hed(rgb, channel_axis=0)[0:1]
    target = percentile_normalize(hematoxylin, *IHC_PERCENTILES).clip(0, 1)
    image = (rgb / 255.0).astype("float32")
    computed = {"kind": "computed", "by": "skimage.color.rgb2hed", "channel": "hematoxylin",
                "normalize": {"percentiles": list(IHC_PERCENTILES), "over": "whole image",
                              "clip": [0, 1]}}
    pairs = Pairs(config={"source": {"sample": "ihc-hematoxylin"}, "targets": computed},
                  simulated=False)
    for name, region in IHC_REGIONS.items():
        rows, cols = (slice(*r) for r in region)
        pairs.append(Pair(name, np.ascontiguousarray(image[:, rows, cols]),
                          np.ascontiguousarray(target[:, rows, cols]), None, (None, None, None),
                          {"file": str(path), "region": [list(r) for r in region],
                           "target": computed}))
    return pairs


#: Offline sample sets by name -> function returning :class:`Pairs`.
SAMPLES: dict[str, Callable[[], Pairs]] = {
    "ndev-labelfree": ndev_labelfree,
    "ndev-nuclei": ndev_nuclei,
    "ndev-nuclei-from-transmitted": ndev_nuclei_from_transmitted,
    "ndev-cytoplasm": ndev_cytoplasm,
    "stardist-nuclei-2d": stardist_nuclei_2d,
    "stardist-nuclei-3d": stardist_nuclei_3d,
    "fluorescent-nuclei-2d": fluorescent_nuclei_2d,
    "nuclei-instances-2d": nuclei_instances_2d,
    "neuron-sharp-2d": neuron_sharp_2d,
    "ihc-hematoxylin": ihc_hematoxylin,
}

#: Single real images without ground truth: name -> (package, file inside it, extra).
IMAGES: dict[str, tuple[str, str]] = {
    "ndev-neuron": ("ndev_sampledata", "samples/neuron-4Ch.tiff"),
    "ndev-neocortex": ("ndev_sampledata", "samples/neocortex-3Ch.tiff"),
    "stardist-he": ("stardist", "data/images/histo.jpg"),
    "skimage-ihc": ("skimage", "data/ihc.png"),
    "skimage-cell": ("skimage", "data/cell.png"),
}


def image(name: str) -> io.Image:
    """A real image without ground truth (e.g. ``"ndev-neuron"``, ``"skimage-ihc"``), as
    :class:`im2im_helpers.io.Image` (TCZYX, RGB as three channels)."""
    if name not in IMAGES:
        raise KeyError(f"{name!r}: not a sample image; choose one of {sorted(IMAGES)}.")
    package, relative = IMAGES[name]
    return io.read(package_file(package, relative))
