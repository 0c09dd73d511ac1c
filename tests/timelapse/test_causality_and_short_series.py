"""Time-lapse context without looking ahead: the recurrent model's prediction of frame ``t``
does not change when later frames do, and a series shorter than one clip is refused with the
parameter to change."""

import numpy as np
import pytest

from im2im_helpers import models, predict
from im2im_helpers.data import Pair, Pairs, timelapse


def series(n=6, shape=(24, 32), seed=0) -> np.ndarray:
    """A ``(T, 1, Y, X)`` series of random frames."""
    return np.random.default_rng(seed).random((n, 1, *shape)).astype(np.float32)


def test_the_prediction_at_t_does_not_depend_on_later_frames():
    net = models.build("recurrent_unet", 2, in_channels=3, frames=3, channels=(4, 8),
                       seed=2).eval()
    movie = series()
    later = movie.copy()
    later[4:] = np.random.default_rng(1).random(later[4:].shape)  # new frames 4 and 5
    before = predict.image(net, timelapse.series_clips(movie, 3), roi=(16, 16), time_axis=True)
    after = predict.image(net, timelapse.series_clips(later, 3), roi=(16, 16), time_axis=True)
    assert before.shape == (6, 1, 24, 32)
    np.testing.assert_array_equal(before[:4], after[:4])  # frames 0-3: not a bit changed
    assert np.abs(before[4:] - after[4:]).max() > 1e-3  # frames 4, 5 see their own change
    # ... while an earlier frame inside the clip does matter: frame 3 reads frames 1-3
    earlier = movie.copy()
    earlier[2] = 0
    changed = predict.image(net, timelapse.series_clips(earlier, 3), roi=(16, 16),
                            time_axis=True)
    np.testing.assert_array_equal(changed[:2], before[:2])
    assert np.abs(changed[3] - before[3]).max() > 1e-3
    np.testing.assert_array_equal(changed[5], before[5])  # frame 2 is outside 5's clip (3-5)


@pytest.mark.parametrize("start", ["repeat", "drop"])
def test_a_series_shorter_than_a_clip_names_frames(start):
    short = Pairs([Pair(f"t{t}", np.zeros((1, 8, 8), np.float32),
                        np.zeros((1, 8, 8), np.float32)) for t in range(2)], config={})
    with pytest.raises(ValueError, match=r"frames=3 but the series has 2 time points.*"
                                         r"give frames <= 2"):
        timelapse.clips(short, frames=3, start=start)
    assert len(timelapse.clips(short, frames=2, start=start)) == (2 if start == "repeat" else 1)


def test_a_series_to_predict_shorter_than_a_clip_names_frames():
    with pytest.raises(ValueError, match="frames=4 but the series has 3 time points"):
        timelapse.series_clips(series(3), 4)
    assert timelapse.series_clips(series(3), 3).shape == (3, 3, 24, 32)
