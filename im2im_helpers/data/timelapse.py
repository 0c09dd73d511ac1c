"""Time-lapse context: short clips of consecutive frames as the input of one frame's target.

:func:`clips` turns one pair per time point (in time order, e.g. the ``"ndev-labelfree"``
sample) into one pair per time point ``t`` whose input holds the frames ``t - k … t`` as
channels (oldest first, the frame of the target last) and whose target is frame ``t``'s. A
network that reads the channels as a sequence (:class:`im2im_helpers.nets.recurrent.
RecurrentUNet`) learns from the motion; the patch sampler crops every frame of a clip at one
position, as it crops the channels of any input. :func:`series_clips` does the same for a
whole ``(T, C, …)`` series at prediction time.
"""

from __future__ import annotations

import numpy as np

from im2im_helpers.data.pairs import Pair, Pairs, with_transform

#: How the first frames, which have fewer than ``frames - 1`` predecessors, get a full clip.
STARTS = ("repeat", "drop")


def check_clip_options(frames: int, start: str, length: int) -> None:
    """Raise ``ValueError`` with what to give when ``frames`` or ``start`` cannot make clips
    from ``length`` time points (a series shorter than one clip is refused whatever
    ``start``)."""
    if not isinstance(frames, (int, np.integer)) or frames < 1:
        raise ValueError(f"frames={frames!r}: give a whole number of frames per clip, 1 or more "
                         "(1: no temporal context).")
    if start not in STARTS:
        raise ValueError(f"start={start!r}: choose 'repeat' (the first frame stands in for the "
                         "missing earlier ones) or 'drop' (no clip for the first frames).")
    if frames > length:
        raise ValueError(f"frames={frames} but the series has {length} time points: no clip "
                         "would hold a frame's real predecessors (start='drop' would leave none, "
                         f"start='repeat' only copies of the first frame); give frames <= "
                         f"{length}, or a longer series.")


def clip_indices(t: int, frames: int) -> list[int]:
    """The time points of the clip ending at ``t`` (oldest first), the first frame repeated
    where the series has no earlier one."""
    return [max(0, i) for i in range(t - frames + 1, t + 1)]


def clips(pairs: Pairs, frames: int = 3, start: str = "repeat") -> Pairs:
    """One pair per time point with the ``frames`` latest inputs as channels.

    Parameters
    ----------
    pairs : Pairs
        One pair per time point, in time order, all of one shape.
    frames : int
        Frames per clip (the frame itself and ``frames - 1`` before it).
    start : {"repeat", "drop"}
        The first ``frames - 1`` time points: their clips repeat the first frame, or they get
        none.

    Returns
    -------
    Pairs
        Names and targets of the time points; inputs ``(frames * C, *spatial)``, frame-major
        (channels of the oldest frame first). The transform is recorded in the pairs' config.
    """
    check_clip_options(frames, start, len(pairs))
    shapes = {p.input.shape for p in pairs}
    if len(shapes) > 1:
        raise ValueError(f"clips: the frames have different input shapes {sorted(shapes)}; a "
                         "time-lapse needs one shape for every time point.")
    out = Pairs(config=with_transform(pairs.config, {"kind": "clips", "frames": int(frames),
                                                      "start": start}),
                simulated=pairs.simulated)
    first = frames - 1 if start == "drop" else 0
    for t in range(first, len(pairs)):
        members = [pairs[i] for i in clip_indices(t, frames)]
        stacked = np.concatenate([m.input for m in members], axis=0).astype(np.float32)
        p = pairs[t]
        out.append(Pair(p.name, stacked, p.target, p.cost, p.pixel_sizes,
                        {**p.origin, "clip": [m.name for m in members]}))
    return out


def series_clips(series: np.ndarray, frames: int) -> np.ndarray:
    """Every time point of a ``(T, C, *spatial)`` series as a clip input,
    ``(T, frames * C, *spatial)`` (the first frame repeated before the start), as
    :func:`clips` makes them for training: predict each with
    :func:`im2im_helpers.predict.image` (``time_axis=True`` predicts them in turn)."""
    series = np.asarray(series)
    if series.ndim not in (4, 5):
        raise ValueError(f"series of shape {series.shape}: expected (T, C, Y, X) or "
                         "(T, C, Z, Y, X).")
    check_clip_options(frames, "repeat", series.shape[0])
    return np.stack([np.concatenate([series[i] for i in clip_indices(t, frames)], axis=0)
                     for t in range(series.shape[0])]).astype(np.float32)
