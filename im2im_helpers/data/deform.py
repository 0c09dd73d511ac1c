"""Known deformations of real images, and consecutive time-lapse frames, for registration.

The displacement convention (the package's, MONAI's :class:`~monai.networks.blocks.Warp`):
a displacement field ``u`` has shape ``(dims, *spatial)`` (``(2, Y, X)`` or ``(3, Z, Y, X)``),
in pixels, its channels in the order of the image axes (``u[0]`` along Y, ``u[1]`` along X in
2D; Z, Y, X in 3D), and warping ``moving`` with it gives ``warped(x) = moving(x + u(x))``. A
field *registers* ``moving`` to ``fixed`` when ``moving(x + u(x)) ~ fixed(x)``: it is sampled
on the fixed image's grid and points into the moving image.

- :func:`random_field`, :func:`random_fields` — seeded smooth random fields, translations and
  small affine maps, scaled to a largest displacement in pixels;
- :func:`translation_field`, :func:`affine_field` — given translations and affine maps;
- :func:`warp`, :func:`warp_tensor` — apply a field (MONAI's ``Warp``);
- :func:`deformed` — ``(moving, fixed, displacement)`` triplets made from real images;
- :func:`consecutive`, :func:`frame_triplets` — consecutive frames of a time-lapse (drift and
  cell motion; no ground-truth displacement).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from monai.networks.blocks import Warp
from monai.networks.layers import GaussianFilter

from im2im_helpers.data.pairs import Pair, Pairs, with_transform

#: Kinds of random field :func:`random_fields` draws.
KINDS = ("smooth", "translation", "affine")
#: Default width (Gaussian sigma, in pixels) of the smooth random fields.
DEFAULT_SMOOTHNESS = 8.0


def check_pair(moving, fixed, moving_name: str = "moving", fixed_name: str = "fixed") -> None:
    """Raise ``ValueError`` naming both parameters and shapes if ``moving`` and ``fixed``
    differ in shape (registration compares them pixel by pixel)."""
    a, b = tuple(np.shape(moving)), tuple(np.shape(fixed))
    if a != b:
        raise ValueError(
            f"{moving_name} has shape {a} but {fixed_name} has shape {b}: registration needs "
            f"two images of one shape. Crop or resample one of them to the other's shape first.")


def spatial_dims_of(image, what: str = "image") -> int:
    """2 or 3: the spatial dimensions of one single-channel image, ``(Y, X)`` or ``(1, Y, X)``
    (2D), ``(1, Z, Y, X)`` (3D); ``ValueError`` naming ``what`` otherwise (a 3D image needs its
    channel axis: ``(Z, Y, X)`` would read as a 2D image with ``Z`` channels)."""
    ndim = np.ndim(image)
    if ndim == 2:
        return 2
    if ndim in (3, 4) and np.shape(image)[0] == 1:
        return ndim - 1
    raise ValueError(f"{what} has shape {tuple(np.shape(image))}: expected one 2D image (Y, X) "
                     "or (1, Y, X), or one 3D image (1, Z, Y, X) with a single channel.")


def _channel_first(image, what: str) -> np.ndarray:
    """``image`` as float32 ``(1, *spatial)``."""
    dims = spatial_dims_of(image, what)
    x = np.asarray(image, dtype=np.float32)
    return x[None] if x.ndim == dims else x


def check_field(displacement, spatial: Sequence[int], what: str = "displacement") -> np.ndarray:
    """``displacement`` as float32 ``(dims, *spatial)``, or ``ValueError`` naming ``what``."""
    u = np.asarray(displacement, dtype=np.float32)
    expected = (len(spatial), *spatial)
    if u.shape != expected:
        raise ValueError(f"{what} has shape {u.shape}: expected {expected} (one channel per "
                         "spatial axis, in the image's axis order, on the fixed image's grid).")
    return u


def _warper(mode: str, padding: str) -> Warp:
    with warnings.catch_warnings():  # "Using PyTorch native grid_sample": expected on CPU
        warnings.simplefilter("ignore")
        return Warp(mode=mode, padding_mode=padding)


def warp_tensor(image: torch.Tensor, displacement: torch.Tensor, mode: str = "bilinear",
                padding: str = "border") -> torch.Tensor:
    """Batched :func:`warp` of tensors: ``image`` ``(B, C, *spatial)``, ``displacement``
    ``(B, dims, *spatial)``; differentiable (MONAI's ``Warp``)."""
    if image.shape[0] != displacement.shape[0] or image.shape[2:] != displacement.shape[2:]:
        raise ValueError(f"image has shape {tuple(image.shape)} but displacement has shape "
                         f"{tuple(displacement.shape)}: expected (B, {image.ndim - 2}, "
                         f"{', '.join(map(str, image.shape[2:]))}).")
    return _warper(mode, padding)(image, displacement.to(image.dtype))


def warp(image, displacement, mode: str = "bilinear", padding: str = "border") -> np.ndarray:
    """``image`` warped by ``displacement``: ``warped(x) = image(x + u(x))``.

    Parameters
    ----------
    image : array
        ``(Y, X)``, ``(1, Y, X)`` or ``(1, Z, Y, X)``.
    displacement : array
        ``(dims, *spatial)`` in pixels, channels in the image's axis order (see the module).
    mode : {"bilinear", "nearest", "bicubic"}
        Interpolation (``"bilinear"`` is trilinear in 3D); ``"nearest"`` for label images.
    padding : {"border", "zeros", "reflection"}
        Values sampled outside the image.

    Returns
    -------
    numpy.ndarray
        float32, of ``image``'s shape.
    """
    x = _channel_first(image, "image")
    u = check_field(displacement, x.shape[1:])
    out = warp_tensor(torch.from_numpy(x)[None], torch.from_numpy(u)[None], mode, padding)
    return out[0].numpy().reshape(np.shape(image))


def translation_field(shape: Sequence[int], shift: Sequence[float]) -> np.ndarray:
    """The constant field ``u(x) = shift`` on a grid of ``shape`` (``fixed(x) = moving(x +
    shift)``: the content of ``fixed`` is that of ``moving`` moved by ``-shift``)."""
    shape = tuple(int(s) for s in shape)
    if len(shift) != len(shape):
        raise ValueError(f"shift={tuple(shift)} has {len(shift)} values but the grid {shape} has "
                         f"{len(shape)} axes: give one shift per axis, in the image's axis order.")
    return np.stack([np.full(shape, s, np.float32) for s in shift])


def _grid(shape: Sequence[int]) -> np.ndarray:
    return np.stack(np.meshgrid(*(np.arange(s, dtype=np.float64) for s in shape), indexing="ij"))


def affine_field(shape: Sequence[int], matrix, translation: Sequence[float] | None = None,
                 centre: Sequence[float] | None = None) -> np.ndarray:
    """The field of the affine map ``x -> matrix (x - centre) + centre + translation``:
    ``u(x) = (matrix - I)(x - centre) + translation`` (pixels, image axis order; ``centre``: the
    grid's centre by default)."""
    shape = tuple(int(s) for s in shape)
    dims = len(shape)
    a = np.asarray(matrix, dtype=np.float64)
    if a.shape != (dims, dims):
        raise ValueError(f"matrix has shape {a.shape}: expected ({dims}, {dims}) for a grid of "
                         f"shape {shape}.")
    t = np.zeros(dims) if translation is None else np.asarray(translation, dtype=np.float64)
    c = (np.array(shape) - 1) / 2 if centre is None else np.asarray(centre, dtype=np.float64)
    if t.shape != (dims,) or c.shape != (dims,):
        raise ValueError(f"translation and centre need {dims} values each (one per axis).")
    x = _grid(shape) - c.reshape(dims, *[1] * dims)
    u = np.einsum("ij,j...->i...", a - np.eye(dims), x) + t.reshape(dims, *[1] * dims)
    return u.astype(np.float32)


def check_kind(kind: str, max_displacement: float, smoothness: float) -> None:
    """Raise ``ValueError`` naming the setting of :func:`random_fields` that cannot work."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: choose one of {KINDS}.")
    if not np.isfinite(max_displacement) or max_displacement < 0:
        raise ValueError(f"max_displacement={max_displacement!r}: give a length in pixels >= 0.")
    if not np.isfinite(smoothness) or smoothness <= 0:
        raise ValueError(f"smoothness={smoothness!r}: give a Gaussian width in pixels > 0.")


def random_fields(n: int, shape: Sequence[int], kind: str = "smooth",
                  max_displacement: float = 4.0, smoothness: float = DEFAULT_SMOOTHNESS,
                  random_scale: bool = False, generator: torch.Generator | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` random displacement fields ``(n, dims, *shape)`` (pixels, image axis order).

    Parameters
    ----------
    n : int
        How many.
    shape : sequence of int
        Spatial shape, ``(Y, X)`` or ``(Z, Y, X)``.
    kind : {"smooth", "translation", "affine"}
        ``"smooth"``: white noise smoothed by a Gaussian of width ``smoothness`` (MONAI's
        ``GaussianFilter``); ``"translation"``: one random vector; ``"affine"``: a random linear
        map about the grid's centre plus a translation.
    max_displacement : float
        Each field is scaled so that its longest vector has this length (in pixels).
    smoothness : float
        Gaussian sigma of ``"smooth"`` fields, in pixels (ignored by the other kinds).
    random_scale : bool
        Scale each field's longest vector to a uniform random length in
        ``[0, max_displacement]`` instead (training on varied magnitudes).
    generator : torch.Generator, optional
        Source of randomness (torch's global state when not given).
    device : torch device, optional
        Where the fields are made.
    """
    check_kind(kind, max_displacement, smoothness)
    shape = tuple(int(s) for s in shape)
    dims = len(shape)
    if dims not in (2, 3):
        raise ValueError(f"shape={shape}: give 2 (Y, X) or 3 (Z, Y, X) sizes.")
    draw = {"generator": generator, "device": device or (generator.device if generator else None)}
    if kind == "smooth":
        noise = torch.randn((n * dims, 1, *shape), **draw)
        u = GaussianFilter(dims, float(smoothness)).to(noise.device)(noise).reshape(n, dims, *shape)
    elif kind == "translation":
        u = torch.randn((n, dims, *[1] * dims), **draw).expand(n, dims, *shape).clone()
    else:
        matrix = torch.randn((n, dims, dims), **draw)
        shift = torch.randn((n, dims), **draw) * 0.5
        centre = (torch.tensor(shape, dtype=torch.float32) - 1) / 2
        grid = torch.from_numpy(_grid(shape).astype(np.float32)).to(matrix.device)
        x = (grid - centre.to(matrix.device).reshape(dims, *[1] * dims)) / max(shape)
        u = torch.einsum("bij,j...->bi...", matrix, x) + shift.reshape(n, dims, *[1] * dims)
    length = u.pow(2).sum(1).sqrt().reshape(n, -1).amax(1).clamp_min(1e-12)
    scale = torch.full((n,), float(max_displacement), device=u.device)
    if random_scale:
        scale = scale * torch.rand((n,), **draw).to(u.device)
    return u * (scale / length).reshape(n, *[1] * (dims + 1))


def random_field(shape: Sequence[int], kind: str = "smooth", max_displacement: float = 4.0,
                 smoothness: float = DEFAULT_SMOOTHNESS, seed: int = 0) -> np.ndarray:
    """One seeded random field ``(dims, *shape)`` as float32 NumPy (see :func:`random_fields`);
    its longest vector is ``max_displacement`` pixels long."""
    generator = torch.Generator().manual_seed(int(seed))
    return random_fields(1, shape, kind, max_displacement, smoothness,
                         generator=generator)[0].numpy()


@dataclass
class Triplet:
    """A registration problem: ``displacement`` (``None`` when unknown) registers ``moving`` to
    ``fixed``: ``warp(moving, displacement) ~ fixed``.

    Attributes
    ----------
    name : str
        Identifier (the source image's name, with the pair's number or frames).
    moving, fixed : numpy.ndarray
        ``(1, Y, X)`` or ``(1, Z, Y, X)``, float32.
    displacement : numpy.ndarray or None
        ``(dims, *spatial)`` in pixels (see the module's convention).
    origin : dict
        How it was made (image, kind, seed, frames).
    """

    name: str
    moving: np.ndarray
    fixed: np.ndarray
    displacement: np.ndarray | None = None
    origin: dict = field(default_factory=dict)


def _crop(image: np.ndarray, crop: Sequence[int] | None, rng: np.random.Generator) -> np.ndarray:
    if crop is None:
        return image
    spatial = image.shape[1:]
    if len(crop) != len(spatial) or any(c > s for c, s in zip(crop, spatial)):
        raise ValueError(f"crop={tuple(crop)} does not fit the image of spatial shape {spatial}: "
                         "give one size per axis, each at most the image's.")
    start = [int(rng.integers(0, s - c + 1)) for s, c in zip(spatial, crop)]
    return image[(slice(None), *(slice(a, a + c) for a, c in zip(start, crop)))].copy()


def deformed(images: Pairs | Sequence[np.ndarray], kind: str = "smooth",
             max_displacement: float = 4.0, smoothness: float = DEFAULT_SMOOTHNESS,
             per_image: int = 1, crop: Sequence[int] | None = None, seed: int = 0,
             padding: str = "border") -> list[Triplet]:
    """Registration triplets with a known answer from real images: ``moving`` is (a crop of)
    the image, ``fixed = warp(moving, u)`` and ``displacement = u``, a seeded random field.

    Parameters
    ----------
    images : Pairs or sequence of Pair or of arrays
        Pairs (their single-channel inputs are used) or images ``(Y, X)``, ``(1, Y, X)``,
        ``(1, Z, Y, X)``.
    kind, max_displacement, smoothness
        The fields (see :func:`random_fields`); every field's longest vector is
        ``max_displacement`` pixels.
    per_image : int
        Triplets per image, with different fields (and crops).
    crop : sequence of int, optional
        Random crops of this spatial size (the whole image when not given).
    seed : int
        Decides the crops and the fields.
    padding : {"border", "zeros", "reflection"}
        Values sampled outside the moving image.
    """
    named = [(im.name, im.input) if isinstance(im, Pair) else (f"image{i}", im)
             for i, im in enumerate(images)]
    rng = np.random.default_rng(seed)
    out = []
    for name, image in named:
        x = _channel_first(image, f"image {name!r}")
        for k in range(per_image):
            moving = _crop(x, crop, rng)
            field_seed = int(rng.integers(0, 2**31 - 1))
            u = random_field(moving.shape[1:], kind, max_displacement, smoothness, field_seed)
            fixed = warp(moving, u, padding=padding)
            out.append(Triplet(f"{name}-{k}", moving, fixed, u,
                               {"image": name, "kind": kind, "max_displacement": max_displacement,
                                "smoothness": smoothness, "seed": field_seed}))
    return out


def consecutive(pairs: Pairs, step: int = 1, channel: str = "input") -> Pairs:
    """Pairs of time-lapse frames ``t`` (input, the moving image) and ``t + step`` (target,
    the fixed image), in the order of ``pairs`` (one pair per time point, e.g. the
    ``"ndev-labelfree"`` sample): real drift and cell motion, without a ground-truth
    displacement. Names are ``"t00-t01"``; both images of a pair are cropped at one position
    by :class:`~im2im_helpers.data.patches.PatchDataModule`.

    Parameters
    ----------
    pairs : Pairs
        One pair per frame, in time order.
    step : int
        Frames between the two images.
    channel : {"input", "target"}
        Which image of each frame's pair to register.
    """
    if channel not in ("input", "target"):
        raise ValueError(f"channel={channel!r}: choose 'input' or 'target'.")
    if not isinstance(step, (int, np.integer)) or step < 1 or step >= len(pairs):
        raise ValueError(f"step={step!r}: give a whole number of frames from 1 to "
                         f"{len(pairs) - 1} (the pairs hold {len(pairs)} frames).")
    out = Pairs(config=with_transform(pairs.config, {"kind": "consecutive", "step": int(step),
                                                      "channel": channel}),
                simulated=pairs.simulated)
    for a, b in zip(pairs[:-step], pairs[step:]):
        moving, fixed = getattr(a, channel), getattr(b, channel)
        check_pair(moving, fixed, f"frame {a.name!r}", f"frame {b.name!r}")
        out.append(Pair(f"{a.name}-{b.name}", moving.copy(), fixed.copy(), None, a.pixel_sizes,
                        {"moving": a.origin, "fixed": b.origin}))
    return out


def frame_triplets(pairs: Pairs) -> list[Triplet]:
    """Triplets without a known displacement from pairs of :func:`consecutive` (input: the
    moving frame, target: the fixed frame)."""
    return [Triplet(p.name, p.input, p.target, None, dict(p.origin)) for p in pairs]
