"""N2V2 against plain Noise2Void on notebook 02's data and noise, at the same training steps.

Same data, noise, split, patches and schedule as ``notebooks/02_denoising.ipynb`` at its default
level (``fluorescent-nuclei-2d``, 10 photons, read noise 0.02, U-Net features 16-32-64, lr 3e-3
with a cosine schedule, 5 % of the pixels hidden, 64 x 64 patches, batches of 16, flips), made
with the notebook's own package calls. Variants (``--variants``):

- ``n2v``: the tutorial's Noise2Void (MONAI U-Net, random visible neighbour);
- ``n2v2``: N2V2 (``models.build("n2v2_unet")``, ``replacement="median"``);
- ``unet-median``, ``n2v2net-neighbour``: one of the two changes alone;
- ``fullres-neighbour``, ``fullres-median``: the control for the network: the same code as
  N2V2's U-Net with its full-resolution skip connection and plain max pooling (MONAI's UNet
  of the tutorial starts with a stride-2 convolution and ends with a transposed one, so it
  differs from N2V2's network in more than the two changes).

Every variant is scored on the tutorial's three test images with PSNR, SSIM and the
checkerboard ratio (:func:`im2im_helpers.metrics.texture.checkerboard_ratio`: the share of the
variance at the period-2 frequencies relative to the clean target's; 1 = the target's), without
and with flip test-time augmentation (the tutorial's setting; averaging flips cancels part of a
period-2 pattern). The noisy input and a Gaussian filter (sigma 1.5, the tutorial's tuned
value) give the context. Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/n2v2_vs_n2v.py --out /tmp/n2v2 --epochs 6
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi

from im2im_helpers import data, metrics, models, predict, tasks, train
from im2im_helpers.data import simulate
from im2im_helpers.metrics import texture

DATASET, PHOTONS, READ_NOISE = "fluorescent-nuclei-2d", 10.0, 0.02
TEST, VAL = ["stardist-right", "ndev-t08", "ndev-t09"], ["ndev-t07"]
PATCH, BATCH, SAMPLES_PER_IMAGE = 64, 16, 64
CHANNELS, LR, MASK_FRACTION = (16, 32, 64), 3e-3, 0.05

#: name -> (network, replacement)
VARIANTS = {"n2v": ("unet", "neighbour"), "n2v2": ("n2v2_unet", "median"),
            "unet-median": ("unet", "median"), "n2v2net-neighbour": ("n2v2_unet", "neighbour"),
            "fullres-neighbour": ("fullres_unet", "neighbour"),
            "fullres-median": ("fullres_unet", "median")}


def tutorial_split(folder: Path, seed: int = 0):
    """Notebook 02's pairs and split, built with the notebook's own calls."""
    clean = data.load(DATASET, normalize_percentiles=None)
    noisy = simulate.poisson_gaussian(clean, photons=PHOTONS, read_noise=READ_NOISE, seed=seed)
    pairs = data.load(data.write_folder(noisy, folder / "pairs", overwrite=True),
                      normalize_percentiles=None)
    return data.split(pairs, test=TEST, val=VAL, seed=seed, shuffle=False,
                      path=folder / "split.json")


def scores(predictions: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    per = {"psnr": [metrics.psnr(p, t) for p, t in zip(predictions, targets)],
           "ssim": [metrics.ssim(p, t) for p, t in zip(predictions, targets)],
           "checkerboard": [texture.checkerboard_ratio(p, t) for p, t in zip(predictions, targets)]}
    row = {k: float(np.mean(v)) for k, v in per.items()}
    row["per_image"] = {k: [round(x, 4) for x in v] for k, v in per.items()}
    return row


def centre(image: np.ndarray, side: int = 128) -> np.ndarray:
    """The central ``side`` x ``side`` pixels of a 2D image (for looking at the texture)."""
    y, x = (max(0, (s - side) // 2) for s in image.shape)
    return image[y:y + side, x:x + side]


def build(network: str, seed: int):
    if network == "unet":  # the tutorial's: models.build("unet", channels=..., norm="BATCH")
        return models.build("unet", 2, channels=CHANNELS, norm="BATCH", seed=seed)
    plain = {"top_skip": True, "blur_pool": False} if network == "fullres_unet" else {}
    return models.build("n2v2_unet", 2, channels=CHANNELS, norm="batch", seed=seed, **plain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/n2v2_vs_n2v"))
    parser.add_argument("--epochs", type=int, default=6, help="tutorial default level: 6")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    split = tutorial_split(args.out, args.seed)
    targets = [p.target for p in split.test]
    dm = data.patches(split, patch=(PATCH, PATCH), batch_size=BATCH,
                      samples_per_image=SAMPLES_PER_IMAGE, augment="flips", seed=args.seed)
    results = {"noisy": scores([p.input for p in split.test], targets),
               "gaussian": scores([ndi.gaussian_filter(p.input, (0, 1.5, 1.5))
                                   for p in split.test], targets)}
    crops = {"target": targets[0], "noisy": split.test[0].input}
    for name in args.variants:
        network, replacement = VARIANTS[name]
        task = tasks.Noise2Void(build(network, args.seed), lr=LR, scheduler="cosine",
                                mask_fraction=MASK_FRACTION, seed=args.seed,
                                replacement=replacement)
        wall, cpu = time.perf_counter(), time.process_time()
        run = train.fit(task, dm, args.out / name, max_epochs=args.epochs, seed=args.seed,
                        overwrite=True, progress=False)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        for tta in (False, True):
            preds = [predict.image(run.model, p.input, roi=(PATCH, PATCH), tta=tta)
                     for p in split.test]
            key = f"{name}{' +tta' if tta else ''}"
            results[key] = scores(preds, targets)
            results[key].update(steps=run.trainer.global_step, train_wall_s=round(wall, 1),
                                train_cpu_s=round(cpu, 1),
                                parameters=models.count_parameters(run.model.net))
            if not tta:
                crops[name] = preds[0]
        print(name, {k: round(v, 4) for k, v in results[name].items()
                     if isinstance(v, float)}, flush=True)
    np.savez_compressed(args.out / "crops.npz", **{k: centre(v[0]) for k, v in crops.items()})
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"{'method':<24}{'PSNR':>8}{'SSIM':>8}{'checkerboard':>14}")
    for key, row in results.items():
        print(f"{key:<24}{row['psnr']:8.2f}{row['ssim']:8.3f}{row['checkerboard']:14.2f}")


if __name__ == "__main__":
    main()
