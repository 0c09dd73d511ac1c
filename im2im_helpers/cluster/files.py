"""Predict many image files with a trained run (or a BioImage.IO package) on a Dask cluster.

:func:`predict_files` plans the work (outputs that exist are skipped, inputs that are missing
are reported), starts a local cluster of worker processes or connects to a running scheduler
(e.g. one that dask-jobqueue started on SLURM), loads the model once per worker
(:class:`~im2im_helpers.cluster.worker.ModelPlugin`), predicts every file with
:func:`im2im_helpers.predict.file` and returns a :class:`FilesSummary`: what was written,
skipped and failed, and how each worker ran. A file that fails is reported with its error and
never stops the others; a second call after a crash or a fix predicts only what is missing.

``dask.distributed`` is imported only when a prediction starts (``pip install
"dask[distributed]"``; ``bokeh`` as well for the dashboard).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

#: Environment variables that size the thread pools of numerical libraries in a new worker.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class SchedulerUnreachableError(ConnectionError):
    """The Dask scheduler given to :func:`predict_files` did not answer."""


class FilesFailedError(RuntimeError):
    """Some files could not be predicted (raised by :meth:`FilesSummary.raise_if_failed`);
    ``failed`` holds their :class:`FileResult`."""

    def __init__(self, message: str, failed: Sequence[FileResult]) -> None:
        super().__init__(message)
        self.failed = list(failed)


@dataclass(frozen=True)
class FileResult:
    """What happened to one input file.

    Attributes
    ----------
    source : Path
        The input.
    output : Path
        Its prediction (written, or existing when skipped, or planned when failed).
    status : {"written", "skipped", "failed", "planned"}
        ``"planned"`` only while :func:`predict_files` runs.
    error : str
        ``"TypeName: message"`` of a failure; why a file was skipped.
    seconds : float
        Time the worker spent on it (0 when not predicted).
    worker : str
        Address of the worker that predicted it.
    """

    source: Path
    output: Path
    status: str
    error: str = ""
    seconds: float = 0.0
    worker: str = ""


@dataclass(frozen=True)
class WorkerReport:
    """How one worker ran: its machine (``host``, ``cores`` it may use), its task slots
    (``dask_threads``), the torch threads its predictions ran with, how many times its
    process loaded the model (1 when all went well), and how many files it predicted."""

    address: str
    host: str
    cores: int
    dask_threads: int
    torch_threads: int
    model_loads: int
    files: int


@dataclass
class FilesSummary:
    """The result of :func:`predict_files`: one :class:`FileResult` per input (in the order
    of the inputs), the workers, the cluster's addresses and the wall time.

    ``str(summary)`` is a readable table; :meth:`raise_if_failed` turns failures into one
    error that lists them.
    """

    files: list[FileResult]
    out_dir: Path
    run: Path
    scheduler: str | None = None  # the scheduler's address; None when nothing was predicted
    dashboard: str | None = None  # the link of the cluster's dashboard (needs bokeh)
    workers: list[WorkerReport] = field(default_factory=list)
    seconds: float = 0.0

    def _with(self, status: str) -> list[FileResult]:
        return [f for f in self.files if f.status == status]

    @property
    def written(self) -> list[FileResult]:
        """Files predicted and written in this call."""
        return self._with("written")

    @property
    def skipped(self) -> list[FileResult]:
        """Files whose output existed already (left untouched)."""
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be predicted, with their errors."""
        return self._with("failed")

    @property
    def files_per_second(self) -> float:
        """Files written per second of wall time (0 when none was written)."""
        return len(self.written) / self.seconds if self.written and self.seconds else 0.0

    def headline(self) -> str:
        """One line: how many files were written, skipped and failed, in how long, where."""
        line = (f"{len(self.written)} written, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed of {len(self.files)} files in {self.seconds:.1f} s")
        if self.workers:
            threads = sorted({w.torch_threads for w in self.workers})
            line += (f" on {len(self.workers)} Dask worker(s) x "
                     f"{'/'.join(map(str, threads))} torch thread(s)")
        if self.dashboard:
            line += f"; dashboard {self.dashboard}"
        return line

    def table(self) -> str:
        """The files as a plain-text table: status, input, output or error."""
        rows = [("status", "input", "output / error")]
        for f in self.files:
            detail = f.error.splitlines()[0] if f.status == "failed" and f.error else \
                f.output.name + (f" ({f.seconds:.1f} s)" if f.status == "written" else "")
            rows.append((f.status, str(f.source), detail))
        widths = [max(len(r[i]) for r in rows) for i in range(2)]
        return "\n".join(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows)

    def __str__(self) -> str:
        return f"{self.headline()}\n{self.table()}"

    def raise_if_failed(self) -> None:
        """Raise :class:`FilesFailedError` naming every failed file and its error, if any."""
        failed = self.failed
        if failed:
            lines = "\n".join(f"  {f.source}: {f.error}" for f in failed)
            raise FilesFailedError(
                f"{len(failed)} of {len(self.files)} files could not be predicted (outputs "
                f"in {self.out_dir}):\n{lines}\nFix or remove them and call predict_files "
                "again: finished outputs are skipped.", failed)


def _distributed():
    try:
        import distributed
    except ImportError as err:
        raise ImportError(
            f"predict_files needs dask.distributed ({err}); install it with "
            "pip install \"dask[distributed]\" (and bokeh for the dashboard).") from err
    return distributed


def plan(inputs: Iterable[str | os.PathLike], out_dir: Path,
         overwrite: bool) -> list[FileResult]:
    """One :class:`FileResult` per input, in order: ``"planned"`` for the files to predict;
    settled already: missing inputs and outputs two inputs would share (``"failed"``),
    existing outputs (``"skipped"``, unless ``overwrite``). Paths are made absolute, so that
    workers of a remote cluster on a shared file system find them."""
    from im2im_helpers.predict import output_path

    planned, claimed = [], {}
    for name in inputs:
        source = Path(name).absolute()
        out = output_path(source, out_dir)
        if not source.exists():
            planned.append(FileResult(source, out, "failed",
                                      f"FileNotFoundError: {source}: no such file or folder"))
        elif out in claimed:
            other = "is listed twice" if claimed[out] == source else \
                f"has the output {out.name} of {claimed[out]} too"
            planned.append(FileResult(source, out, "failed", (
                f"ValueError: {source}: {other}; predict it once (files with the same name "
                "into different folders)")))
        elif out.exists() and not overwrite:
            claimed[out] = source
            planned.append(FileResult(source, out, "skipped",
                                      "output exists (pass overwrite=True to predict again)"))
        else:
            claimed[out] = source
            planned.append(FileResult(source, out, "planned"))
    return planned


@contextlib.contextmanager
def _environment_kept(names: Iterable[str]) -> Iterator[None]:
    """Restore the variables ``names`` of this process's environment afterwards: Dask's
    nanny writes its ``pre-spawn-environ`` (``OMP_NUM_THREADS=1`` ...) into the environment
    of the process that starts a local cluster, where later subprocesses would inherit it."""
    before = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _local_cluster(workers: int, threads: int):
    """A started ``LocalCluster`` of ``workers`` processes, one task at a time each, whose
    numerical libraries start with ``threads`` threads (set in each worker process before it
    imports torch; the worker plugin sets torch's threads again)."""
    distributed = _distributed()
    environ = {name: str(threads) for name in THREAD_VARIABLES}
    with _environment_kept([*THREAD_VARIABLES, "MALLOC_TRIM_THRESHOLD_", "PYTHONHASHSEED"]):
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                        processes=True, dashboard_address=":0", env=environ)


def connect(address: str, timeout: float) -> Client:
    """A ``distributed.Client`` of the scheduler at ``address``.

    Raises
    ------
    SchedulerUnreachableError
        The scheduler did not answer within ``timeout`` seconds (or the address is invalid).
    """
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as err:
        raise SchedulerUnreachableError(
            f"no Dask scheduler answered at {address!r} within {timeout:g} s ({err}). Start "
            "one there (e.g. `dask scheduler`, or a dask-jobqueue cluster whose "
            "scheduler_address you pass), check the address and that this machine can "
            "reach it, raise `timeout`, or leave scheduler=None to run a local cluster on "
            "this machine.") from err


def predict_files(
    run: str | os.PathLike,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    scheduler: str | Client | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    channel: int = 0,
    roi: Sequence[int] | None = None,
    overwrite: bool = False,
    timeout: float = 10.0,
    progress: bool = False,
    **options,
) -> FilesSummary:
    """Predict many image files with a trained run on a Dask cluster, one task per file.

    Each worker loads the model once and predicts whole files with
    :func:`im2im_helpers.predict.file` (written atomically, so an output that exists is
    complete). Outputs that exist are skipped, so calling again after an interruption or a
    fix predicts only what is missing. A file that fails (unreadable, wrong channel, ...) is
    reported with its error and does not stop the others.

    Parameters
    ----------
    run : path-like
        Run folder (``config.yaml``, ``checkpoints/``) or BioImage.IO package (``.zip`` or its
        folder). With a remote scheduler it must be readable at the same path on the workers.
    inputs : iterable of path-like
        Image files (any format :func:`im2im_helpers.io.read` reads). Missing ones are
        reported as failed.
    out_dir : path-like
        Folder of the predictions, one per input, named by
        :func:`im2im_helpers.predict.output_path` (``NAME_pred.ome.tiff``). Created if needed.
    scheduler : str or distributed.Client, optional
        ``None``: start a ``distributed.LocalCluster`` of worker processes on this machine and
        close it at the end. An address (``"tcp://host:8786"``, e.g. the
        ``scheduler_address`` of a dask-jobqueue ``SLURMCluster``): use the workers of that
        running cluster, which stays up (inputs, outputs and run on a shared file system). A
        ``Client``: use it as it is (left open).
    workers : int, optional
        Worker processes of a local cluster (default: one per file to predict, at most one
        per usable core). Ignored with a ``scheduler``.
    threads_per_worker : int, optional
        Torch threads of each worker. Default: the cores of its machine divided by the
        workers there (a local cluster: usable cores // ``workers``), so that the workers
        never oversubscribe the cores (two 2-thread torch processes on 2 cores run tens of
        times slower than two 1-thread ones). Each worker runs one file at a time on a local
        cluster; a remote worker runs as many as its Dask threads, and its default torch
        threads are divided by those too.
    channel : int
        Input channel to predict.
    roi : sequence of int, optional
        Window size; default: the run's training patch (or the package's).
    overwrite : bool
        Predict files whose output exists again and replace it.
    timeout : float
        Seconds to wait for a ``scheduler`` address to answer.
    progress : bool
        Print the dashboard link and show a progress bar over files.
    **options
        More options of :func:`im2im_helpers.predict.image`, e.g. ``tta=True``,
        ``batch_size=8``, ``device="cuda"``.

    Returns
    -------
    FilesSummary
        The files written, skipped and failed (``str()`` of it is a table;
        ``raise_if_failed()`` raises one error listing the failures), the workers, the
        scheduler's address and dashboard link.

    Raises
    ------
    FileNotFoundError
        ``run`` does not exist.
    SchedulerUnreachableError
        No scheduler answered at ``scheduler`` within ``timeout`` seconds.
    """
    from im2im_helpers import system

    started = time.perf_counter()
    run = Path(run).absolute()
    if not run.exists():
        raise FileNotFoundError(f"{run}: no such run folder or BioImage.IO package; pass the "
                                "folder a training wrote (holding config.yaml) or a package.")
    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = plan(inputs, out_dir, overwrite)
    to_do = [i for i, f in enumerate(files) if f.status == "planned"]
    summary = FilesSummary(files, out_dir, run)
    if to_do:
        if scheduler is not None and workers is not None:
            logger.warning("predict_files: workers=%s is ignored: the cluster at %s has its "
                           "own workers", workers, scheduler)
        if isinstance(scheduler, str):
            client, cluster = connect(scheduler, timeout), None
        elif scheduler is None:
            n = workers or min(len(to_do), system.cpu_cores())
            threads_per_worker = threads_per_worker or system.threads_per_process(n)
            cluster = _local_cluster(n, threads_per_worker)
            client = _distributed().Client(cluster, set_as_default=False)
        else:
            client, cluster = scheduler, None
        try:
            _predict_on(client, summary, to_do, threads_per_worker, channel, roi, overwrite,
                        options, progress)
        finally:
            if client is not scheduler:
                client.close()
            if cluster is not None:
                # a worker slow to exit (torch's interpreter shutdown) is killed after a few
                # seconds, as intended: not a warning for the page
                with _environment_kept([*THREAD_VARIABLES, "MALLOC_TRIM_THRESHOLD_",
                                        "PYTHONHASHSEED"]), \
                        system.logger_level("distributed.nanny", logging.ERROR):
                    cluster.close()
    summary.seconds = time.perf_counter() - started
    logger.info("predict_files: %s", summary.headline())
    return summary


def _predict_on(client: Client, summary: FilesSummary, to_do: list[int], threads: int | None,
                channel: int, roi: Sequence[int] | None, overwrite: bool, options: dict,
                progress: bool) -> None:
    """Predict the files ``summary.files[i]`` for ``i`` in ``to_do`` with the workers of
    ``client``; fill in their results, the workers and the cluster's addresses."""
    from tqdm.auto import tqdm

    from im2im_helpers.cluster.worker import ModelPlugin, predict_one, worker_report

    distributed = _distributed()
    summary.scheduler = client.scheduler.address
    summary.dashboard = client.dashboard_link
    logger.info("predict_files: Dask scheduler %s, dashboard %s", summary.scheduler,
                summary.dashboard)
    if progress:
        import importlib.util

        hint = "" if importlib.util.find_spec("bokeh") else " (install bokeh to see it)"
        print(f"Dask dashboard: {summary.dashboard}{hint}")
    name = f"im2im-model-{uuid.uuid4().hex[:12]}"
    if not client.scheduler_info().get("workers"):
        logger.warning("predict_files: the scheduler %s has no workers yet; the files wait "
                       "for some to join", summary.scheduler)
    client.register_plugin(ModelPlugin(str(summary.run), name, threads), name=name)
    futures = {}
    try:
        for i in to_do:
            f = summary.files[i]
            future = client.submit(predict_one, name, str(f.source), str(f.output), channel,
                                   None if roi is None else list(roi), overwrite, dict(options),
                                   key=f"{name}-{i}-{f.source.name}", pure=False)
            futures[future] = i
        bar = tqdm(total=len(futures), desc="files", unit="file", disable=not progress)
        for future in distributed.as_completed(futures, loop=client.loop):
            f = summary.files[futures[future]]
            if future.status == "finished":
                done = future.result()
                summary.files[futures[future]] = FileResult(
                    f.source, f.output, done["status"], done["error"], done["seconds"],
                    done["worker"])
            else:  # the task itself was lost: a worker died on it, or it was cancelled
                error = future.exception() if future.status == "error" else None
                message = f"{type(error).__name__}: {error}" if error is not None else \
                    f"CancelledError: the cluster dropped the task ({future.status})"
                summary.files[futures[future]] = FileResult(f.source, f.output, "failed",
                                                            message)
            bar.update()
        bar.close()
        counts: dict[str, int] = {}
        for f in summary.files:
            if f.worker:
                counts[f.worker] = counts.get(f.worker, 0) + 1
        reports = client.run(worker_report, name)
        summary.workers = [WorkerReport(address, r["host"], r["cores"], r["dask_threads"],
                                        r["torch_threads"], r["model_loads"],
                                        counts.get(address, 0))
                           for address, r in sorted(reports.items())]
    finally:
        client.cancel(list(futures))
        with contextlib.suppress(Exception):  # the cluster may be gone (interrupted)
            client.unregister_worker_plugin(name)
