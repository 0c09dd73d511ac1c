"""Distributed inference on Dask: predict many image files with a trained run or a
BioImage.IO package on the worker processes of a local cluster, or on the workers of a running
cluster (e.g. dask-jobqueue on SLURM).

Modules: :mod:`~im2im_helpers.cluster.files` (the client side: :func:`predict_files`, its
plan and its :class:`FilesSummary`) and :mod:`~im2im_helpers.cluster.worker` (what runs on a
worker: the plugin that loads the model once, the task of one file). ``dask.distributed`` is
imported only when a prediction starts.

Example::

    from im2im_helpers.cluster import predict_files

    summary = predict_files("out/run", sorted(Path("images").glob("*.tif")), "predictions")
    print(summary)
    summary.raise_if_failed()
"""

from im2im_helpers.cluster.files import (
    FileResult,
    FilesFailedError,
    FilesSummary,
    SchedulerUnreachableError,
    WorkerReport,
    predict_files,
)

__all__ = ["FileResult", "FilesFailedError", "FilesSummary", "SchedulerUnreachableError",
           "WorkerReport", "predict_files"]
