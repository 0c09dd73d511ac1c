"""A streamed prediction in a process of its own, for the tests that limit its memory or kill
it: ``python -m tests.stream.worker SOURCE OUT --roi Z Y X [--limit-mib N] [--delay S]``."""

from __future__ import annotations

import argparse
import resource
import sys
import time
import traceback

import torch
from torch import nn

from im2im_helpers import models


class SlowConv(nn.Module):
    """A seeded one-layer 3D network (a convolution of radius 1) that can wait in every
    forward pass, so that a test can kill it mid-way."""

    def __init__(self, dims: int = 3, delay: float = 0.0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        conv = nn.Conv3d if dims == 3 else nn.Conv2d
        self.net = conv(1, 1, 3, padding=1)
        self.net.im2im_spec = {"name": "conv", "dims": dims, "in_channels": 1,
                               "out_channels": 1, "strides": [1]}
        self.delay = delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        return self.net(x)


def resident_peak_mib() -> float:
    """Peak resident memory of this process, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("out")
    parser.add_argument("--roi", type=int, nargs="+", required=True)
    parser.add_argument("--chunks", type=int, nargs="+")
    parser.add_argument("--limit-mib", type=int)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--in-memory", action="store_true",
                        help="predict with the in-memory path instead (must fail under a limit)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from im2im_helpers import predict

    model = SlowConv(len(args.roi), args.delay)
    assert models.dims_of(model) == len(args.roi)
    if args.limit_mib:
        limit = args.limit_mib * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        if args.in_memory:
            from im2im_helpers.stream import open_lazy

            image = open_lazy(args.source)
            data = image.data[0, 0:1]  # the whole image, as the in-memory path holds it
            predict.image(model, data.astype("float32"), roi=args.roi)
        else:  # the test's images are already scaled: no percentile normalisation
            predict.file(model, args.source, args.out, roi=args.roi, chunks=args.chunks,
                         batch_size=args.batch_size, normalize_percentiles=None)
    except MemoryError:
        traceback.print_exc()
        print("MemoryError", flush=True)
        return 3
    print(f"peak_rss_mib={resident_peak_mib():.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
