"""Real microscopy images that install offline with PyPI packages, as training pairs."""

from __future__ import annotations

import importlib.resources
from collections.abc import Callable
from pathlib import Path

from im2im_helpers import io
from im2im_helpers.pairs import Pair, Pairs, check_finite

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


def ndev_labelfree(input_channel: int = 1, target_channel: int = 0) -> Pairs:
    """Label-free pairs from ``ndev-sampledata``'s scratch-assay time-lapse (real data).

    One pair per time point (``t00`` ... ``t09``): oblique transmitted light (channel 1) as
    input, the Hoechst nuclear stain (channel 0) as target; 210 x 576 pixels of 0.619 um.
    """
    path = package_file("ndev_sampledata", f"samples/{NDEV_SCRATCH_ASSAY}")
    img = io.read(path)
    pairs = Pairs(
        config={"source": {"sample": "ndev-labelfree"}}, simulated=False
    )
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


#: Offline sample sets by name -> function returning :class:`Pairs`.
SAMPLES: dict[str, Callable[[], Pairs]] = {
    "ndev-labelfree": ndev_labelfree,
}
