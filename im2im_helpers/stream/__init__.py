"""Images larger than memory: read lazily, predicted window by window, written to OME-Zarr
chunk by chunk (resumable), with windows chosen to fit the device.

Modules: ``sources`` (lazy OME-Zarr/TIFF/bioio inputs as TCZYX), ``windows`` (MONAI's window
grid cut into output blocks), ``tiling`` (window size from measured memory per pixel and the
free memory), ``omezarr`` (the output: partial folder, atomic chunks, pyramid, NGFF
metadata), ``engine`` (the streamed prediction).
"""

from im2im_helpers.stream.engine import predict_to_zarr, sampled_normalization
from im2im_helpers.stream.sources import LazyImage, SourceAxesError, open_lazy
from im2im_helpers.stream.tiling import auto_window

__all__ = ["LazyImage", "SourceAxesError", "auto_window", "open_lazy", "predict_to_zarr",
           "sampled_normalization"]
