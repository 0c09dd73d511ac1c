"""Uncertainty maps of a trained network: the spread of its predictions under test-time
augmentation (the 8 flips and 90-degree turns of the YX plane), Monte-Carlo dropout (dropout
left on at prediction, several seeded samples) and small deep ensembles (several networks).

Each method returns an :class:`UncertaintyMap`: the mean prediction, the per-pixel standard
deviation over the members and one number per image (the mean of that standard deviation).
Every prediction goes through :func:`im2im_helpers.predict.image`, so windows, blending and a
task's post-processing (e.g. sigmoid probabilities for segmentation) are the same as for a
plain prediction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from im2im_helpers import predict

#: The methods of this module, as named in :attr:`UncertaintyMap.method`.
METHODS = ("tta", "mc_dropout", "ensemble", "diffusion")

#: Layer types that MC dropout switches on at prediction time.
DROPOUT_TYPES: tuple[type[nn.Module], ...] = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.FeatureAlphaDropout)


@dataclass
class UncertaintyMap:
    """A mean prediction with its per-pixel and per-image uncertainty.

    Attributes
    ----------
    mean : numpy.ndarray
        Mean prediction over the members, float32, ``(C, Y, X)`` or ``(C, Z, Y, X)`` like
        :func:`im2im_helpers.predict.image`'s output.
    std : numpy.ndarray
        Per-pixel standard deviation over the members (population standard deviation, ``ddof=0``),
        float32, shaped like ``mean``.
    method : str
        ``"tta"``, ``"mc_dropout"`` or ``"ensemble"``.
    members : int
        How many predictions the mean and standard deviation are taken over.
    per_image : float
        One uncertainty for the whole image: the mean of ``std`` over all pixels and channels.
    samples : numpy.ndarray or None
        The member predictions, ``(members, *mean.shape)``, when asked for (``keep_samples``).
    seed : int or None
        The seed of the dropout masks (MC dropout only; the other methods are deterministic).
    """

    mean: np.ndarray
    std: np.ndarray
    method: str
    members: int
    per_image: float
    samples: np.ndarray | None = None
    seed: int | None = None

    @property
    def dims(self) -> str:
        """The axes of ``mean`` and ``std`` as OME letters: ``"CYX"`` or ``"CZYX"``."""
        return {3: "CYX", 4: "CZYX"}[self.std.ndim]


def _summarise(members: Iterable[np.ndarray], method: str, keep_samples: bool,
               seed: int | None = None) -> UncertaintyMap:
    """Mean and standard deviation of ``members`` in one pass (Welford's running moments, in
    float64), without holding them all unless ``keep_samples``."""
    count, mean, m2, kept = 0, None, None, []
    for y in members:
        y64 = np.asarray(y, dtype=np.float64)
        if mean is None:
            if y64.ndim not in (3, 4):
                raise ValueError(f"{method}: predictions of shape {y64.shape}; expected (C, Y, X) "
                                 "or (C, Z, Y, X). For a time-lapse, call once per time point.")
            mean, m2 = np.zeros_like(y64), np.zeros_like(y64)
        elif y64.shape != mean.shape:
            raise ValueError(f"{method}: member {count} has shape {y64.shape}, the first had "
                             f"{mean.shape}; every member must predict the same shape.")
        count += 1
        delta = y64 - mean
        mean += delta / count
        m2 += delta * (y64 - mean)
        if keep_samples:
            kept.append(np.asarray(y, dtype=np.float32))
    if mean is None:
        raise ValueError(f"{method}: no member predictions to summarise.")
    std = np.sqrt(np.maximum(m2 / count, 0.0)).astype(np.float32)
    return UncertaintyMap(mean.astype(np.float32), std, method, count, float(std.mean()),
                          np.stack(kept) if keep_samples else None, seed)


def _check_options(options: dict, refused: Sequence[str], method: str) -> None:
    for name in refused:
        if name in options:
            hint = ("call it once per time point" if name == "time_axis" else
                    "the method already predicts every flip and turn")
            raise ValueError(f"{method}: option {name!r} is not taken here; {hint}.")


def _turned_window(roi: Sequence[int] | None, k: int) -> tuple[int, ...] | None:
    """The window for an image turned ``k`` times by 90 degrees in YX (Y and X swap when
    ``k`` is odd)."""
    if roi is None:
        return None
    roi = tuple(int(r) for r in roi)
    return roi if k % 2 == 0 else (*roi[:-2], roi[-1], roi[-2])


def tta_members(model: nn.Module, x: np.ndarray, roi: Sequence[int] | None = None,
                **options) -> Iterator[np.ndarray]:
    """The 8 test-time-augmentation predictions of ``x``, each transformed back.

    The same flips and turns as :func:`im2im_helpers.predict.image` with ``tta=True`` (whose
    result is the mean of these members): the YX plane turned ``k`` = 0..3 times by 90 degrees,
    each without and with a flip of X; every prediction is undone (flip, then turn back).

    Parameters
    ----------
    model : torch.nn.Module
        A task or network, as for :func:`im2im_helpers.predict.image`.
    x : numpy.ndarray
        ``(C, Y, X)`` or ``(C, Z, Y, X)``.
    roi : sequence of int, optional
        Window size; swapped in Y and X for the odd turns.
    **options
        Further options of :func:`~im2im_helpers.predict.image` (``overlap``, ``batch_size``,
        ``blend``, ``device``); not ``tta`` or ``time_axis``.

    Yields
    ------
    numpy.ndarray
        One prediction per member, in the orientation of ``x``.
    """
    _check_options(options, ("tta", "time_axis"), "tta_members")
    x = np.asarray(x)
    for k in range(4):
        for flip in (False, True):
            xt = np.rot90(x, k, axes=(-2, -1))
            xt = xt[..., ::-1] if flip else xt
            y = predict.image(model, np.ascontiguousarray(xt), _turned_window(roi, k), **options)
            y = y[..., ::-1] if flip else y
            yield np.ascontiguousarray(np.rot90(y, -k, axes=(-2, -1)))


def tta(model: nn.Module, x: np.ndarray, roi: Sequence[int] | None = None,
        keep_samples: bool = False, **options) -> UncertaintyMap:
    """Uncertainty from test-time augmentation: the spread of the 8 flipped/turned predictions.

    Parameters
    ----------
    model : torch.nn.Module
        A trained task or network.
    x : numpy.ndarray
        ``(C, Y, X)`` or ``(C, Z, Y, X)``, normalised as for training.
    roi : sequence of int, optional
        Window size (normally the training patch size), as for
        :func:`im2im_helpers.predict.image`.
    keep_samples : bool
        Keep the 8 members in :attr:`UncertaintyMap.samples`.
    **options
        Further options of :func:`~im2im_helpers.predict.image`; not ``tta`` or ``time_axis``.

    Returns
    -------
    UncertaintyMap
        ``mean`` equals ``predict.image(model, x, roi, tta=True)``; ``std`` is zero wherever
        the network is equivariant to the flips and turns. Deterministic (no seed).
    """
    return _summarise(tta_members(model, x, roi, **options), "tta", keep_samples)


def dropout_layers(model: nn.Module) -> list[nn.Module]:
    """The dropout layers of ``model`` that drop something.

    Parameters
    ----------
    model : torch.nn.Module
        A task or network.

    Returns
    -------
    list of torch.nn.Module
        Its layers of :data:`DROPOUT_TYPES` with probability ``p > 0`` (MONAI networks built
        with ``dropout=0`` hold dropout layers with ``p = 0``: they do not count).
    """
    return [m for m in model.modules()
            if isinstance(m, DROPOUT_TYPES) and float(getattr(m, "p", 0.0)) > 0]


def _force_training(module: nn.Module, args) -> None:
    """Forward pre-hook: this layer runs in training mode, whatever ``eval()`` said."""
    module.training = True


@contextlib.contextmanager
def dropout_active(model: nn.Module) -> Iterator[list[nn.Module]]:
    """Keep the dropout layers of ``model`` dropping during prediction, and nothing else.

    :func:`im2im_helpers.predict.image` puts the model in evaluation mode; inside this context
    each dropout layer (``p > 0``) switches itself back to training mode just before it runs,
    so normalisation layers keep their evaluation behaviour. On leaving, the hooks are removed
    and every layer's mode is as it was.

    Raises
    ------
    ValueError
        If ``model`` has no dropout layer with ``p > 0``.
    """
    layers = dropout_layers(model)
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no dropout layer with p > 0, so MC dropout has "
            "nothing to sample. Build the network with dropout > 0 (e.g. models.build('unet', "
            "2, dropout=0.1)) and train it that way, or use tta or ensemble instead.")
    modes = [m.training for m in layers]
    handles = [m.register_forward_pre_hook(_force_training) for m in layers]
    try:
        yield layers
    finally:
        for handle in handles:
            handle.remove()
        for layer, mode in zip(layers, modes):
            layer.training = mode


def _device_of(model: nn.Module, options: dict) -> torch.device:
    if options.get("device") is not None:
        return torch.device(options["device"])
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def mc_dropout(model: nn.Module, x: np.ndarray, roi: Sequence[int] | None = None,
               n: int = 16, seed: int = 0, keep_samples: bool = False,
               **options) -> UncertaintyMap:
    """Uncertainty from Monte-Carlo dropout: ``n`` predictions with dropout left on.

    Only the dropout layers run in training mode (see :func:`dropout_active`); batch or
    instance normalisation stays in evaluation mode.

    Parameters
    ----------
    model : torch.nn.Module
        A trained task or network with dropout (``models.build(..., dropout=0.1)``).
    x : numpy.ndarray
        ``(C, Y, X)`` or ``(C, Z, Y, X)``.
    roi : sequence of int, optional
        Window size, as for :func:`im2im_helpers.predict.image`.
    n : int
        Number of samples (at least 2).
    seed : int
        Seed of the dropout masks: the same seed, model, input and options give the same
        result (on the same device). The global random state is left as it was.
    keep_samples : bool
        Keep the ``n`` samples in :attr:`UncertaintyMap.samples`.
    **options
        Further options of :func:`~im2im_helpers.predict.image` (``tta=True`` makes every
        sample a TTA average); not ``time_axis``.

    Returns
    -------
    UncertaintyMap

    Raises
    ------
    ValueError
        If the model has no dropout layer with ``p > 0``, or ``n < 2``.
    """
    if int(n) < 2:
        raise ValueError(f"mc_dropout: n={n}; a standard deviation needs at least 2 samples.")
    _check_options(options, ("time_axis",), "mc_dropout")
    device = _device_of(model, options)
    fork = (torch.random.fork_rng(devices=[]) if device.type == "cpu"
            else torch.random.fork_rng(device_type=device.type))
    with dropout_active(model), fork:
        torch.manual_seed(seed)
        members = (predict.image(model, x, roi, **options) for _ in range(int(n)))
        return _summarise(members, "mc_dropout", keep_samples, seed)


def diffusion(model: nn.Module, x: np.ndarray, roi: Sequence[int] | None = None, n: int = 8,
              seed: int = 0, steps: int | None = None, keep_samples: bool = False,
              **options) -> UncertaintyMap:
    """Uncertainty from a diffusion model: ``n`` samples of the target, each from other noise.

    Parameters
    ----------
    model : im2im_helpers.tasks.Diffusion
        A trained diffusion task (one call of it draws one sample per window).
    x : numpy.ndarray
        ``(C, Y, X)`` or ``(C, Z, Y, X)``.
    roi : sequence of int, optional
        Window size, as for :func:`im2im_helpers.predict.image`.
    n : int
        Number of samples (at least 2); the mean is the prediction, their standard deviation
        the uncertainty.
    seed : int
        Seed of the starting noise of the samples: the same seed, model, input and options
        give the same result.
    steps : int, optional
        DDIM steps per sample (default: the task's ``sampling_steps``).
    keep_samples : bool
        Keep the ``n`` samples in :attr:`UncertaintyMap.samples`.
    **options
        Further options of :func:`~im2im_helpers.predict.image` (``tta=True`` makes every
        member an average of 8 samples, flipped and turned); not ``time_axis``.

    Returns
    -------
    UncertaintyMap

    Raises
    ------
    ValueError
        If ``model`` does not sample (no ``reseed``), or ``n < 2``.
    """
    if int(n) < 2:
        raise ValueError(f"diffusion: n={n}; a standard deviation needs at least 2 samples.")
    if not hasattr(model, "reseed"):
        raise ValueError(f"diffusion: {type(model).__name__} is not a diffusion model; train "
                         "tasks.Diffusion, or use tta/mc_dropout/ensemble for this network.")
    _check_options(options, ("time_axis",), "diffusion")
    model.reseed(seed)
    saved = model.hparams.sampling_steps
    if steps is not None:
        model.hparams.sampling_steps = int(steps)
    try:
        members = (predict.image(model, x, roi, **options) for _ in range(int(n)))
        return _summarise(members, "diffusion", keep_samples, seed)
    finally:
        model.hparams.sampling_steps = saved


def ensemble(models: Sequence[nn.Module], x: np.ndarray, roi: Sequence[int] | None = None,
             keep_samples: bool = False, **options) -> UncertaintyMap:
    """Uncertainty from a deep ensemble: the spread of several networks' predictions.

    The networks are trained alike but from different seeds (weights and patches), e.g. 3 to 5
    runs of the same configuration with ``seed`` 0, 1, 2, ...

    Parameters
    ----------
    models : sequence of torch.nn.Module
        At least two trained tasks or networks with the same output shape.
    x : numpy.ndarray
        ``(C, Y, X)`` or ``(C, Z, Y, X)``.
    roi : sequence of int, optional
        Window size, as for :func:`im2im_helpers.predict.image`.
    keep_samples : bool
        Keep every member's prediction in :attr:`UncertaintyMap.samples`.
    **options
        Further options of :func:`~im2im_helpers.predict.image` (e.g. ``tta=True``); not
        ``time_axis``.

    Returns
    -------
    UncertaintyMap
        Deterministic (no seed): identical members give a zero ``std``.
    """
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"ensemble: {len(models)} model(s); an ensemble needs at least 2 "
                         "networks trained from different seeds.")
    _check_options(options, ("time_axis",), "ensemble")
    members = (predict.image(m, x, roi, **options) for m in models)
    return _summarise(members, "ensemble", keep_samples)
