"""The pieces the restoration tutorials stand on: saved simulated pairs, named splits, tuned
classical methods (denoising and deconvolution), the noise sweep, and their figures."""

import json

import numpy as np
import pytest
from scipy import ndimage as ndi

from im2im_helpers import baselines, data, metrics, restoration, samples, simulate, viz
from im2im_helpers.splits import SplitError


def _blobs(seed, shape=(64, 64)):
    rng = np.random.default_rng(seed)
    img = np.zeros(shape, np.float32)
    img[tuple(rng.integers(4, s - 4, 30) for s in shape)] = 1
    img = ndi.gaussian_filter(img, 2)
    return (img / img.max())[None]


def _texture(seed, shape=(64, 64)):
    img = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), 3)
    return ((img - img.min()) / np.ptp(img))[None].astype(np.float32)


def test_simulated_pairs_saved_as_files_load_back_as_simulated(tmp_path):
    pairs = simulate.poisson_gaussian([_blobs(0), _blobs(1)], photons=10, seed=3)
    folder = data.write_folder(pairs, tmp_path / "pairs")
    again = data.load(folder, normalize_percentiles=None)
    assert again.names == pairs.names and again.simulated
    assert again.config["made"]["source"]["simulated"]["photons"] == 10
    np.testing.assert_array_equal(again[1].input, pairs[1].input)
    before = (folder / "img000_IM.ome.tiff").stat().st_mtime_ns
    data.write_folder(pairs, folder)  # the same pairs again: nothing is rewritten
    assert (folder / "img000_IM.ome.tiff").stat().st_mtime_ns == before
    other = simulate.poisson_gaussian([_blobs(2)], photons=3, seed=3)
    with pytest.raises(FileExistsError, match="left untouched"):
        data.write_folder(other, folder)
    data.write_folder(other, folder, overwrite=True)
    assert data.load(folder, normalize_percentiles=None).names == ["img000"]  # no stale pair
    assert json.loads((folder / "pairs.json").read_text())["names"] == ["img000"]


def test_split_by_names(tmp_path):
    pairs = simulate.poisson_gaussian([_blobs(i) for i in range(5)])
    split = data.split(pairs, test=["img001", "img004"], val=["img000"], shuffle=False,
                       path=tmp_path / "split.json")
    assert split.test.names == ["img001", "img004"] and split.val.names == ["img000"]
    assert split.train.names == ["img002", "img003"]
    again = data.split(pairs, test=["img001", "img004"], val=["img000"], shuffle=False,
                       path=tmp_path / "split.json")
    assert again.train.names == split.train.names
    with pytest.raises(SplitError, match="not among"):
        data.split(pairs, test=["nope"], path=tmp_path / "other.json")
    with pytest.raises(SplitError, match="No pair left"):
        data.split(pairs, test=pairs.names[:3], val=pairs.names[3:], path=tmp_path / "x.json")


def test_classical_denoisers_are_tuned_on_training_pairs_and_help_on_new_ones():
    train = simulate.poisson_gaussian([_texture(0), _texture(1)], photons=5, seed=0)
    test = simulate.poisson_gaussian([_texture(7)], photons=5, seed=1)[0]
    fitted = baselines.fit_denoisers([p.input for p in train], [p.target for p in train],
                                     sigmas=(0.5, 1, 2, 4), factors=(0.5, 1, 2))
    assert fitted["gaussian"]["value"] == max(fitted["gaussian"]["scores"],
                                              key=fitted["gaussian"]["scores"].get)
    noisy_psnr = metrics.psnr(test.input, test.target)
    for method in fitted.values():
        assert metrics.psnr(method["apply"](test.input), test.target) > noisy_psnr + 3


def test_richardson_lucy_with_the_true_psf_reduces_the_error_of_a_blurred_image():
    sharp = [_blobs(3, (64, 64)) ** 4, _blobs(4, (64, 64)) ** 4]  # small, bright points
    blurred = simulate.confocal_like(sharp, psf_sigma=2, photons=1e4, read_noise=0, seed=0)
    fitted = baselines.fit_deconvolution([blurred[0].input], [sharp[0]], psf_sigmas=[2],
                                         iterations=(1, 10, 30))
    assert fitted["value"][0] == 2 and fitted["value"][1] > 1
    x, y = blurred[1].input, sharp[1]  # an image not used for tuning
    assert metrics.nrmse(fitted["apply"](x), y) < 0.8 * metrics.nrmse(x, y)
    assert metrics.ssim(fitted["apply"](x), y) > metrics.ssim(x, y)


def test_noise_sweep_reports_every_method_at_every_level():
    sweep = restoration.noise_sweep([_texture(0)], [_texture(1)], photons=(3, 30),
                                    networks={"smooth": lambda x: baselines.gaussian_denoise(x, 1)})
    psnr = sweep["psnr"]
    assert set(psnr) == {"noisy", "gaussian", "nl_means", "smooth"}
    assert all(set(v) == {3.0, 30.0} for v in psnr.values())
    assert psnr["noisy"][30.0] > psnr["noisy"][3.0] + 5  # ten times the light: much less noise
    assert psnr["gaussian"][3.0] > psnr["noisy"][3.0]


def test_restoration_samples_are_clean_and_held_out_by_name():
    nuclei = samples.fluorescent_nuclei_2d()
    assert "stardist-left" in nuclei.names and "ndev-t09" in nuclei.names
    assert all(0 <= p.target.min() and p.target.max() <= 1 for p in nuclei)
    neuron = samples.neuron_sharp_2d()
    assert neuron.names == ["af568-train", "phalloidin-train", "phalloidin-val",
                            "phalloidin-test"]
    assert neuron[3].input.shape == (1, 623, 251) and not neuron.simulated


def test_line_profile_and_sweep_figures(tmp_path):
    img = _blobs(0)
    viz.line_profiles({"a": img, "b": ndi.gaussian_filter(img, 1)}, (5, 5), (50, 60),
                      path=tmp_path / "profile.png", pixel_size=0.1)
    viz.sweep({"m": {3: 20.0, 10: 25.0}}, "photons", "PSNR", path=tmp_path / "sweep.png")
    assert (tmp_path / "profile.png").stat().st_size > 1000
    assert (tmp_path / "sweep.png").stat().st_size > 1000


def test_a_noise2void_run_on_saved_simulated_pairs_is_rebuilt_from_its_config(tmp_path):
    from im2im_helpers import config, models, tasks

    pairs = simulate.poisson_gaussian([_texture(i) for i in range(4)], photons=10, seed=0)
    loaded = data.load(data.write_folder(pairs, tmp_path / "pairs"), normalize_percentiles=None)
    split = data.split(loaded, test=["img003"], val=["img002"], path=tmp_path / "split.json")
    dm = data.patches(split, patch=(32, 32), batch=4)
    task = tasks.Noise2Void(models.build("unet", 2, channels=(4, 8)), mask_fraction=0.03)
    cfg = config.from_objects(task, dm, {"max_epochs": 1})
    config.save(cfg, tmp_path / "config.yaml")
    again_task, again_dm = config.build(config.load(tmp_path / "config.yaml"))
    assert isinstance(again_task, tasks.Noise2Void) and again_task.mask_fraction == 0.03
    assert again_dm.split.test.names == ["img003"] and again_dm.split.val.names == ["img002"]
    assert again_dm.split.train.simulated
    np.testing.assert_array_equal(again_dm.split.train[0].input, pairs[0].input)


def test_pair_names_with_folders_are_written_flat_and_read_back(tmp_path):
    from dataclasses import replace

    pairs = simulate.poisson_gaussian([_blobs(0), _blobs(1)], photons=10, seed=3)
    named = type(pairs)([replace(p, name=f"{part}/{p.name}") for p, part in
                         zip(pairs, ("train", "test"))], pairs.config, pairs.simulated)
    folder = data.write_folder(named, tmp_path / "pairs")
    assert (folder / "train__img000_IM.ome.tiff").is_file()
    assert data.load(folder, normalize_percentiles=None).names == ["test/img001", "train/img000"]
