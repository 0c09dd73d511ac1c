"""What automatic configuration looks at first: the pairs (dimensionality, shapes, pixel sizes,
intensities, object sizes) and the machine (device, cores, free memory)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from skimage import filters, measure

from im2im_helpers import system
from im2im_helpers.data import Pairs

#: Pairs whose objects are measured (the first ones; enough for sizes, quick on large sets).
MAX_MEASURED = 24
#: Fewer objects than this: sizes are not trusted (the patch falls back to a default).
MIN_OBJECTS = 3


@dataclass
class DataProfile:
    """The numbers candidates are derived from.

    Attributes
    ----------
    n_pairs, dims : int
        How many pairs; 2 or 3 spatial dimensions.
    in_channels, target_channels : int
        Channels of inputs and targets.
    shape_min, shape_median, shape_max : list of int
        Spatial shapes (per axis) over the pairs.
    pixel_sizes : list
        ``(Z, Y, X)`` in micrometres of the first pair (``None`` where unknown).
    anisotropy : float or None
        Z pixel size over X pixel size for 3D data with known sizes.
    input_stats, target_stats : dict
        Mean, standard deviation, 1st and 99th percentile of the values (as loaded).
    target_kind : str
        ``"labels"`` (integer label image, more than one object value), ``"mask"`` (0/1) or
        ``"continuous"``.
    objects : dict
        Object sizes in pixels: ``count``, ``diameter_median``/``_p10``/``_p90`` (equivalent
        diameters) and ``extent_p90`` (90th percentile of the bounding-box size per axis);
        ``source`` says how objects were found; empty when fewer than :data:`MIN_OBJECTS`.
    foreground_fraction : float or None
        Fraction of object pixels (segmentation).
    simulated : bool
        Whether the pairs are simulated.
    """

    n_pairs: int
    dims: int
    in_channels: int
    target_channels: int
    shape_min: list[int]
    shape_median: list[int]
    shape_max: list[int]
    pixel_sizes: list
    anisotropy: float | None
    input_stats: dict
    target_stats: dict
    target_kind: str
    objects: dict = field(default_factory=dict)
    foreground_fraction: float | None = None
    simulated: bool = False

    def to_dict(self) -> dict:
        """Plain values (for JSON)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The profile as short sentences for the report."""
        out = [f"{self.n_pairs} pairs of {self.dims}D images, {self.in_channels} input "
               f"channel(s), target: {self.target_kind}"
               + (" (simulated)" if self.simulated else ""),
               f"shapes from {self.shape_min} to {self.shape_max} (median {self.shape_median})",
               f"pixel sizes (Z, Y, X) µm: {self.pixel_sizes}"
               + (f"; anisotropy Z/X {self.anisotropy:.2f}" if self.anisotropy else ""),
               f"input values: mean {self.input_stats['mean']:.3g}, std "
               f"{self.input_stats['std']:.3g}, 1-99 % [{self.input_stats['p1']:.3g}, "
               f"{self.input_stats['p99']:.3g}]"]
        if self.objects:
            o = self.objects
            out.append(f"objects ({o['source']}): {o['count']} measured, equivalent diameter "
                       f"median {o['diameter_median']:.1f} px (10-90 %: {o['diameter_p10']:.1f}"
                       f"-{o['diameter_p90']:.1f}), 90 % extent per axis {o['extent_p90']} px")
        else:
            out.append("objects: too few found to measure their size")
        if self.foreground_fraction is not None:
            out.append(f"foreground fraction {self.foreground_fraction:.3f}")
        return out


@dataclass
class DeviceProfile:
    """The machine training runs on.

    Attributes
    ----------
    accelerator : str
        ``"gpu"``, ``"mps"`` or ``"cpu"`` (:func:`im2im_helpers.system.accelerator`).
    name : str
        The GPU's name, or the CPU architecture.
    cpu_cores, threads : int
        Cores this process may use; torch threads.
    free_memory : int
        Bytes free on the device (:func:`im2im_helpers.stream.tiling.free_memory`).
    """

    accelerator: str
    name: str
    cpu_cores: int
    threads: int
    free_memory: int

    def to_dict(self) -> dict:
        """Plain values (for JSON)."""
        return asdict(self)

    def line(self) -> str:
        """One sentence for the report."""
        return (f"{self.accelerator} ({self.name}), {self.cpu_cores} CPU core(s), {self.threads} "
                f"torch thread(s), {self.free_memory / 2**30:.1f} GiB free")


def stats(values: np.ndarray) -> dict:
    """Mean, standard deviation, 1st and 99th percentile of ``values`` (a sample of at most a
    million values, seeded, for large images)."""
    flat = np.asarray(values, np.float32).ravel()
    if flat.size > 1_000_000:
        flat = np.random.default_rng(0).choice(flat, 1_000_000, replace=False)
    p1, p99 = np.percentile(flat, [1, 99])
    return {"mean": float(flat.mean()), "std": float(flat.std()), "p1": float(p1),
            "p99": float(p99)}


def target_kind(targets: list[np.ndarray]) -> str:
    """``"mask"`` (values 0 and 1 only), ``"labels"`` (whole numbers >= 0 with more than one
    object value) or ``"continuous"``."""
    values = np.unique(np.concatenate([np.unique(t) for t in targets]))
    if np.isin(values, (0, 1)).all():
        return "mask"
    if (values >= 0).all() and np.array_equal(values, np.round(values)) and len(values) > 2:
        return "labels"
    return "continuous"


def object_regions(target: np.ndarray, kind: str) -> np.ndarray:
    """An integer label image of the objects in ``target`` (``(C, ...)``, first channel):
    the labels themselves, the connected components of a mask, or those of an Otsu threshold
    of a continuous target (bright structures such as nuclei)."""
    y = np.asarray(target[0])
    if kind == "labels":
        return y.astype(np.int64)
    if kind == "mask":
        return measure.label(y > 0)
    if np.ptp(y) == 0:
        return np.zeros(y.shape, np.int64)
    return measure.label(y > filters.threshold_otsu(y))


def measure_objects(pairs: Pairs, kind: str) -> dict:
    """Object sizes over the first :data:`MAX_MEASURED` pairs (see :attr:`DataProfile.objects`);
    ``{}`` when fewer than :data:`MIN_OBJECTS` objects are found. Objects of one or two pixels
    (noise of a threshold) are left out."""
    diameters, extents = [], []
    for pair in pairs[:MAX_MEASURED]:
        for region in measure.regionprops(object_regions(pair.target, kind)):
            if region.area < 3:
                continue
            diameters.append(region.equivalent_diameter_area)
            box = region.bbox
            n = len(box) // 2
            extents.append([box[n + i] - box[i] for i in range(n)])
    if len(diameters) < MIN_OBJECTS:
        return {}
    d, e = np.asarray(diameters), np.asarray(extents)
    return {"source": {"labels": "label image", "mask": "connected components of the masks",
                       "continuous": "Otsu threshold of the targets"}[kind],
            "count": len(diameters), "diameter_median": float(np.median(d)),
            "diameter_p10": float(np.percentile(d, 10)),
            "diameter_p90": float(np.percentile(d, 90)),
            "extent_p90": [int(np.ceil(v)) for v in np.percentile(e, 90, axis=0)]}


def profile_data(pairs: Pairs) -> DataProfile:
    """Look at ``pairs`` (as :func:`im2im_helpers.data.load` returns them).

    Parameters
    ----------
    pairs : Pairs
        At least one pair.

    Returns
    -------
    DataProfile
    """
    shapes = np.asarray([p.input.shape[1:] for p in pairs])
    first = pairs[0]
    sizes = list(first.pixel_sizes)
    anisotropy = None
    if first.dims == 3 and sizes[0] and sizes[-1]:
        anisotropy = float(sizes[0]) / float(sizes[-1])
    kind = target_kind([p.target for p in pairs[:MAX_MEASURED]])
    fraction = None
    if kind in ("mask", "labels"):
        fraction = float(np.mean([np.mean(p.target > 0) for p in pairs[:MAX_MEASURED]]))
    return DataProfile(
        n_pairs=len(pairs), dims=first.dims, in_channels=int(first.input.shape[0]),
        target_channels=int(first.target.shape[0]),
        shape_min=[int(v) for v in shapes.min(axis=0)],
        shape_median=[int(v) for v in np.median(shapes, axis=0)],
        shape_max=[int(v) for v in shapes.max(axis=0)],
        pixel_sizes=[None if s is None else float(s) for s in sizes], anisotropy=anisotropy,
        input_stats=stats(np.concatenate([p.input.ravel() for p in pairs[:MAX_MEASURED]])),
        target_stats=stats(np.concatenate([p.target.ravel() for p in pairs[:MAX_MEASURED]])),
        target_kind=kind, objects=measure_objects(pairs, kind), foreground_fraction=fraction,
        simulated=bool(pairs.simulated))


def profile_device() -> DeviceProfile:
    """Look at this machine: the accelerator training will use, cores and free memory."""
    import platform

    import torch

    from im2im_helpers.stream.tiling import free_memory

    accelerator = system.accelerator()
    device = {"gpu": "cuda", "mps": "mps"}.get(accelerator, "cpu")
    name = torch.cuda.get_device_name(0) if accelerator == "gpu" else platform.machine()
    free = free_memory("cpu" if device == "mps" else device)
    return DeviceProfile(accelerator, name, system.cpu_cores(), torch.get_num_threads(),
                         int(free))
