"""Time-lapse context: clips of consecutive frames (``data.timelapse``) and the U-Net with
ConvGRU skips that reads them (``nets.recurrent``), trained and reloaded through a run."""

import numpy as np
import pytest
import torch
import yaml

from im2im_helpers import data, models, predict, tasks, train
from im2im_helpers.data import Pair, Pairs, timelapse


def frames(n=5, shape=(16, 24)) -> Pairs:
    """``n`` time points whose input is filled with the time index (channel 0) and 10 x it
    (channel 1): every value says which frame it came from."""
    return Pairs([Pair(f"t{t:02d}", np.stack([np.full(shape, t, np.float32),
                                              np.full(shape, 10 * t, np.float32)]),
                       np.full((1, *shape), -t, np.float32)) for t in range(n)],
                 config={"source": "test"})


def test_a_clip_holds_the_latest_frames_oldest_first_with_its_own_target():
    out = timelapse.clips(frames(), frames=3)
    assert out.names == ["t00", "t01", "t02", "t03", "t04"]
    t3 = out[3]
    assert t3.input.shape == (6, 16, 24)
    assert [float(c[0, 0]) for c in t3.input] == [1, 10, 2, 20, 3, 30]  # frames 1, 2, 3
    assert float(t3.target[0, 0, 0]) == -3 and t3.origin["clip"] == ["t01", "t02", "t03"]
    assert [float(c[0, 0]) for c in out[0].input] == [0, 0, 0, 0, 0, 0]  # first frame repeated
    assert out.config["transforms"] == [{"kind": "clips", "frames": 3, "start": "repeat"}]
    dropped = timelapse.clips(frames(), frames=3, start="drop")
    assert dropped.names == ["t02", "t03", "t04"]
    again = data.apply_transforms(frames(), out.config["transforms"])  # a run's config redoes it
    np.testing.assert_array_equal(again[4].input, out[4].input)


def test_series_clips_match_the_training_clips():
    pairs = frames(4)
    series = np.stack([p.input for p in pairs])
    made = timelapse.series_clips(series, 2)
    assert made.shape == (4, 4, 16, 24)
    for t, pair in enumerate(timelapse.clips(pairs, frames=2)):
        np.testing.assert_array_equal(made[t], pair.input)


def test_bad_clip_settings_say_what_to_give():
    with pytest.raises(ValueError, match="whole number of frames"):
        timelapse.clips(frames(), frames=0)
    with pytest.raises(ValueError, match="start='repeat'"):
        timelapse.clips(frames(3), frames=4, start="drop")
    with pytest.raises(ValueError, match="choose 'repeat'"):
        timelapse.clips(frames(), start="first")
    mixed = frames(3)
    mixed[1] = Pair("t01", np.zeros((2, 8, 8), np.float32), np.zeros((1, 8, 8), np.float32))
    with pytest.raises(ValueError, match="one shape for every time point"):
        timelapse.clips(mixed)
    with pytest.raises(ValueError, match="expected"):
        timelapse.series_clips(np.zeros((3, 8, 8)), 2)
    with pytest.raises(ValueError, match="whole number of frames"):
        models.build("recurrent_unet", 2, in_channels=5, frames=2)


@pytest.mark.parametrize("dims", [2, 3])
def test_the_prediction_uses_earlier_frames_in_order(dims):
    net = models.build("recurrent_unet", dims, in_channels=3, out_channels=2, frames=3,
                       channels=(4, 8), seed=1).eval()
    shape = (8, 16, 16) if dims == 3 else (16, 16)
    x = torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = net(x)
        changed_first = net(torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:]], 1))
        swapped = net(x[:, [1, 0, 2]])
    assert y.shape == (2, 2, *shape)
    assert models.size_divisor(net.im2im_spec) == 2
    assert (y - changed_first).abs().max() > 1e-4  # the oldest frame matters ...
    assert (y - swapped).abs().max() > 1e-4  # ... and so does the order of the frames


def test_a_temporal_run_trains_reloads_and_predicts_a_series(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random((1, 32, 32)).astype(np.float32)
    moving = Pairs([Pair(f"t{t:02d}", np.roll(base, t, axis=-1),  # drifts one pixel a frame
                         np.roll(base, t, axis=-1) * 2) for t in range(6)], config={})
    pairs = timelapse.clips(moving, frames=2)
    split = data.split(pairs, test=["t05"], val=["t04"], shuffle=False,
                       path=tmp_path / "split.json")
    dm = data.patches(split, patch=(16, 16), batch_size=4, samples_per_image=4)
    net = models.build("recurrent_unet", 2, in_channels=2, frames=2, channels=(4, 8))
    run = train.fit(tasks.Supervised(net, lr=1e-2), dm, tmp_path / "run", max_epochs=4,
                    progress=False)
    loaded = train.load_run_model(run.path, tasks.Supervised)
    assert loaded.net.frames == 2
    model = yaml.safe_load((run.path / "config.yaml").read_text())["model"]
    assert model["name"] == "recurrent_unet" and model["frames"] == 2
    series = timelapse.series_clips(np.stack([p.input for p in moving]), 2)
    out = predict.image(loaded, series, roi=(16, 16), time_axis=True)
    assert out.shape == (6, 1, 32, 32) and np.isfinite(out).all()
    single = predict.image(loaded, pairs[5].input, roi=(16, 16))
    np.testing.assert_allclose(out[5], single, rtol=1e-5, atol=1e-6)
