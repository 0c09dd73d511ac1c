"""What runs inside a Dask worker for :func:`im2im_helpers.cluster.predict_files`: a worker
plugin that loads the model once per worker process and sets its torch threads, the task that
predicts one file with it, and a report of each worker (threads, models loaded).

This module imports ``distributed`` (the plugin is a :class:`distributed.WorkerPlugin`); the
client side, :mod:`im2im_helpers.cluster.files`, imports it only when a prediction starts.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from distributed import WorkerPlugin, get_worker
from distributed.comm import get_address_host

#: Models this process loaded, by run path: a worker that loads its model more than once
#: shows it here (the tests and :class:`~im2im_helpers.cluster.files.WorkerReport` read it).
MODEL_LOADS: Counter[str] = Counter()


def machine_threads(cores: int, workers_on_host: int, tasks_per_worker: int) -> int:
    """Torch threads for one worker so that all workers on its machine, each running
    ``tasks_per_worker`` predictions at a time, use at most ``cores`` threads together."""
    return max(1, int(cores) // max(1, int(workers_on_host) * max(1, int(tasks_per_worker))))


class ModelPlugin(WorkerPlugin):
    """Loads the model of a run folder or BioImage.IO package once per worker and keeps it.

    Registered on a client (``client.register_plugin(plugin)``), its :meth:`setup` runs on
    every worker, including workers that join later: it sets the worker's torch threads and
    loads :func:`im2im_helpers.export.cli.predict_model` of ``run``. Tasks reach it with
    ``get_worker().plugins[plugin.name]``.

    Parameters
    ----------
    run : str
        Run folder or package, as a path the workers can read (an absolute path on a shared
        file system for a cluster of several machines).
    name : str
        The plugin's name on the workers (unique per prediction, so that two runs can share a
        cluster).
    threads : int, optional
        Torch threads per worker. By default the cores this worker may use divided by the
        number of workers on its machine (as the scheduler knows them when the plugin is set
        up) times the worker's task slots.
    """

    def __init__(self, run: str, name: str, threads: int | None = None) -> None:
        self.run = str(run)
        self.name = name
        self.threads = threads
        self.model: Any = None
        self.window: list | None = None
        self.normalize_percentiles: list | None = None
        self.task_threads: int | None = None  # torch threads seen by the thread running tasks

    async def setup(self, worker) -> None:
        """Choose the torch threads, then set them and load the model in a thread (the worker
        keeps answering the scheduler while torch and the model load)."""
        from im2im_helpers import system

        if self.threads is None:
            identity = await worker.scheduler.identity()
            host = get_address_host(worker.address)
            on_host = [w for w in identity.get("workers", {}).values() if w.get("host") == host]
            self.threads = machine_threads(system.cpu_cores(), max(1, len(on_host)),
                                           worker.state.nthreads)
        await asyncio.to_thread(self.load)

    def load(self) -> None:
        """Set torch's threads (for the whole process) and load the model (counted in
        :data:`MODEL_LOADS`)."""
        import torch

        from im2im_helpers.export.cli import predict_model

        if self.threads is not None:
            torch.set_num_threads(int(self.threads))
        self.model, self.window, self.normalize_percentiles = predict_model(self.run)
        MODEL_LOADS[self.run] += 1

    def teardown(self, worker) -> None:
        """Drop the model (the plugin is unregistered from a cluster that stays up)."""
        self.model = None

    def predict(self, source: str, out: str, channel: int, roi: Sequence[int] | None,
                overwrite: bool, options: dict) -> None:
        """Predict ``source`` into ``out`` with :func:`im2im_helpers.predict.file` (the run's
        training patch as the window and its normalisation unless ``roi`` is given)."""
        import torch

        from im2im_helpers import predict

        self.task_threads = torch.get_num_threads()
        predict.file(self.model, source, out, channel=channel,
                     roi=roi if roi is not None else self.window,
                     normalize_percentiles=self.normalize_percentiles, overwrite=overwrite,
                     **options)


def predict_one(plugin_name: str, source: str, out: str, channel: int,
                roi: Sequence[int] | None, overwrite: bool, options: dict) -> dict:
    """The task of one file: predict it with the worker's model and say how it went.

    Returns
    -------
    dict
        ``status`` (``"written"``; ``"skipped"`` when the output appeared meanwhile;
        ``"failed"``), ``error`` (``"TypeName: message"`` of a failure), ``seconds`` and
        ``worker`` (its address). Errors of the file are caught here, so that one bad file
        never stops the others and the message arrives whatever its exception type.
    """
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None or plugin.model is None:
        raise RuntimeError(
            f"worker {worker.address} has no model {plugin_name!r}: its ModelPlugin was "
            "removed or failed to load the model (see the worker's log).")
    start = time.perf_counter()
    status, error = "written", ""
    try:
        plugin.predict(source, out, channel, roi, overwrite, options)
    except FileExistsError as err:  # another run wrote it since the plan was made
        status, error = "skipped", str(err)
    except Exception as err:  # reported per file, with its type and message
        status, error = "failed", f"{type(err).__name__}: {err}"
    return {"status": status, "error": error, "seconds": time.perf_counter() - start,
            "worker": worker.address}


def worker_report(plugin_name: str, dask_worker=None) -> dict:
    """What one worker did (for ``client.run``): its machine, cores, task slots, torch
    threads, and how many times this process loaded the plugin's model."""
    import torch

    from im2im_helpers import system

    plugin = dask_worker.plugins.get(plugin_name)
    run = plugin.run if plugin is not None else ""
    threads = plugin.task_threads if plugin is not None and plugin.task_threads else None
    return {"host": get_address_host(dask_worker.address),
            "pid": os.getpid(), "cores": system.cpu_cores(),
            "dask_threads": dask_worker.state.nthreads,
            "torch_threads": threads or torch.get_num_threads(),
            "model_loads": MODEL_LOADS[run] if run else 0}
