"""The app's widgets: the form, the train button (training in a thread, with a progress bar and
a live loss plot), the results view and the buttons that write predictions and export the model.

Every widget carries a CSS class ``im2im-app-<name>`` (``source``, ``folder``, ``task``,
``level``, ``epochs``, ``patch``, ``lr``, ``out``, ``replace``, ``train``, ``write``,
``export``, ``status``, ``progress``, ``loss``, ``comparison``, ``metrics``) so a browser test
finds it; the app as a whole carries ``im2im-app``."""

from __future__ import annotations

import html
import threading
import traceback
from pathlib import Path

from im2im_helpers import data
from im2im_helpers.app import live, recipe, results
from im2im_helpers.app.recipe import AppError, Settings

#: The first entry of the dataset list: nothing chosen.
NOTHING = "(choose a dataset)"
#: Offline datasets first (they need no download), then the registry's.
OFFLINE = ("ndev-labelfree", "fluorescent-nuclei-2d", "nuclei-instances-2d", "ndev-nuclei",
           "neuron-sharp-2d")


def dataset_names() -> list[str]:
    """The dataset list: offline samples (those of :data:`OFFLINE` first), then registry
    datasets (downloaded on first use)."""
    samples = [n for n in OFFLINE if n in data.SAMPLES]
    samples += sorted(n for n in data.SAMPLES if n not in samples)
    return [*samples, *sorted(data.registry.entries())]


def colour(message: str, kind: str) -> str:
    """``message`` as HTML, red for ``"error"``, green for ``"done"``, plain otherwise."""
    colours = {"error": "#b00020", "done": "#1b5e20"}
    style = f' style="color:{colours[kind]}"' if kind in colours else ""
    return f'<span class="im2im-app-{kind}"{style}>{html.escape(message)}</span>'


class App:
    """The no-code app: choose data and a task, train, look at predictions, write them, export.

    Parameters
    ----------
    out : str, optional
        The output folder the form starts with (default ``im2im-app-output`` in the working
        folder).
    source : str, optional
        A dataset name or folder to start with.

    Attributes
    ----------
    widget : ipywidgets.VBox
        What is displayed.
    settings_widgets : dict
        The form's widgets by setting name.
    prepared, run, results :
        The last training's set-up, run and results (``None`` before).
    """

    def __init__(self, out: str | None = None, source: str | None = None):
        import ipywidgets as w

        names = dataset_names()
        self.prepared: recipe.Prepared | None = None
        self.run = None
        self.results: results.Results | None = None
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        level = recipe.LEVELS["smoke"]
        wide = w.Layout(width="420px")
        style = {"description_width": "110px"}
        chosen = source if source in names else NOTHING
        self.settings_widgets = {
            "source": w.Dropdown(options=[NOTHING, *names], value=chosen, description="dataset",
                                 layout=wide, style=style),
            "folder": w.Text(value="" if chosen != NOTHING else (source or ""),
                             description="or a folder", layout=wide, style=style,
                             placeholder="a folder of X_IM / X_GT image pairs"),
            "task": w.Dropdown(options=list(recipe.TASK_NAMES), value=recipe.TASK_NAMES[0],
                               description="task", layout=wide, style=style),
            "level": w.Dropdown(options=list(recipe.LEVELS), value="smoke", description="level",
                                layout=wide, style=style),
            "epochs": w.BoundedIntText(value=level.epochs, min=1, max=10_000,
                                       description="epochs", style=style),
            "patch": w.BoundedIntText(value=level.patch, min=16, max=4096, step=16,
                                      description="patch (pixels)", style=style),
            "lr": w.BoundedFloatText(value=level.lr, min=1e-6, max=0.99, step=1e-4,
                                     description="learning rate", style=style),
            "out": w.Text(value=out or str(Path.cwd() / "im2im-app-output"),
                          description="output folder", layout=wide, style=style),
            "replace": w.Checkbox(value=False, description="replace my earlier run there",
                                  indent=False),
        }
        self.settings_widgets["level"].observe(self._level_changed, names="value")
        self.train_button = w.Button(description="train", button_style="primary")
        self.write_button = w.Button(description="write predictions", disabled=True)
        self.export_button = w.Button(description="export model", disabled=True)
        self.train_button.on_click(lambda _b: self.train())
        self.write_button.on_click(lambda _b: self.write_predictions())
        self.export_button.on_click(lambda _b: self.export())
        self.status = w.HTML(value=colour("choose a dataset and a task, then click train",
                                          "info"))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="training",
                                      style=style)
        self.loss = w.Image(format="png", value=live.loss_png({}), width=360)
        self.comparison = w.Image(format="png", value=b"", layout=w.Layout(max_width="900px"))
        self.metrics = w.HTML(value="")
        named = {**self.settings_widgets, "train": self.train_button,
                 "write": self.write_button, "export": self.export_button,
                 "status": self.status, "progress": self.progress, "loss": self.loss,
                 "comparison": self.comparison, "metrics": self.metrics}
        for name, widget in named.items():
            widget.add_class(f"im2im-app-{name}")
        s = self.settings_widgets
        form = w.VBox([w.HTML("<b>im2im: train an image-to-image network</b>"), s["source"],
                       s["folder"], s["task"], s["level"], s["epochs"], s["patch"], s["lr"],
                       s["out"], s["replace"]])
        self.widget = w.VBox([form, w.HBox([self.train_button, self.write_button,
                                            self.export_button]),
                              self.status, self.progress, self.loss, self.metrics,
                              self.comparison])
        self.widget.add_class("im2im-app")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- the form ------------------------------------------------------------------------
    def _level_changed(self, change) -> None:
        level = recipe.LEVELS[change["new"]]
        s = self.settings_widgets
        s["epochs"].value, s["patch"].value, s["lr"].value = level.epochs, level.patch, level.lr

    def settings(self) -> Settings:
        """The form as :class:`~im2im_helpers.app.recipe.Settings` (a typed folder wins over
        the dataset list)."""
        s = {k: v.value for k, v in self.settings_widgets.items()}
        folder = str(s.pop("folder")).strip()
        source = folder or ("" if s["source"] == NOTHING else s["source"])
        return Settings(source=source, task=s["task"], out=str(s["out"]).strip(),
                        level=s["level"], epochs=int(s["epochs"]), patch=int(s["patch"]),
                        lr=float(s["lr"]), replace=bool(s["replace"]))

    def say(self, message: str, kind: str = "info") -> None:
        """Show ``message`` in the status line (``kind``: ``"info"``, ``"done"``,
        ``"error"``)."""
        self.status.value = colour(message, kind)

    # -- training ------------------------------------------------------------------------
    def train(self, background: bool = True) -> None:
        """Check the form, then train (in a thread unless ``background`` is false); the status
        line says what happens and ends with ``done`` or the error."""
        if not self._busy.acquire(blocking=False):
            self.say("training is already running; wait for it to finish", "error")
            return
        self.say("loading the data...")
        try:
            prepared = recipe.prepare(self.settings())
        except AppError as err:
            self._busy.release()
            self.say(str(err), "error")
            return
        except Exception as err:  # an unexpected failure still ends in the status line
            self._busy.release()
            self.say(f"could not prepare the run: {type(err).__name__}: {err}", "error")
            return
        self.prepared, self.results = prepared, None
        for button in (self.train_button, self.write_button, self.export_button):
            button.disabled = True
        self.progress.value, self.progress.bar_style = 0, ""
        self.loss.value = live.loss_png({})
        self.comparison.value, self.metrics.value = b"", ""
        notes = f" ({'; '.join(prepared.notes)})" if prepared.notes else ""
        self.say(f"training on {len(prepared.split.train)} image(s) of "
                 f"{prepared.settings.source}{notes}...")
        if background:
            self._thread = threading.Thread(target=self._train, args=(prepared,), daemon=True)
            self._thread.start()
        else:
            self._train(prepared)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a training started in the background; ``True`` when none is running."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _step(self, step: int, total: int) -> None:
        if total and self.progress.max != total:
            self.progress.max = total
        self.progress.value = min(step, self.progress.max)

    def _epoch(self, history: dict[str, list[float]]) -> None:
        self.loss.value = live.loss_png(history)
        epochs = len(history["train_loss"])
        last = history["train_loss"][-1] if history["train_loss"] else float("nan")
        self.say(f"training: epoch {epochs}/{self.prepared.settings.epochs}, "
                 f"training loss {last:.4f}")

    def _train(self, prepared: recipe.Prepared) -> None:
        try:
            self.run = recipe.fit(prepared, [live.LiveProgress(self._step, self._epoch)])
            self.progress.value, self.progress.bar_style = self.progress.max, "success"
            self.say("predicting the held-out images...")
            self.results = results.evaluate(self.run.model, prepared)
            results.write_metrics(self.results, prepared.out)
            self.comparison.value = results.comparison_png(self.results)
            self.metrics.value = html.escape(self.results.summary())
            self.write_button.disabled = self.export_button.disabled = False
            self.say(f"done: run in {self.run.path}; {self.results.summary()}", "done")
        except Exception as err:  # shown in the widget: a thread's exception is seen nowhere
            self.progress.bar_style = "danger"
            last = traceback.extract_tb(err.__traceback__)[-1]
            self.say(f"training failed: {type(err).__name__}: {err} ({Path(last.filename).name}:"
                     f"{last.lineno})", "error")
        finally:
            self.train_button.disabled = False
            self._busy.release()

    # -- outputs -------------------------------------------------------------------------
    def write_predictions(self) -> list[Path]:
        """Write the held-out predictions as OME-TIFF into the output folder's
        ``predictions/``; the status line names the files."""
        if self.results is None or self.prepared is None:
            self.say("nothing to write yet: train first", "error")
            return []
        try:
            files = results.write_predictions(self.results, self.prepared.out)
        except Exception as err:
            self.say(f"could not write the predictions: {err}", "error")
            return []
        self.say(f"done: {len(files)} prediction(s) written to {files[0].parent}", "done")
        return files

    def export(self) -> Path | None:
        """Export the run as a BioImage.IO package ``model.zip`` in the output folder."""
        if self.run is None or self.prepared is None:
            self.say("nothing to export yet: train first", "error")
            return None
        self.say("exporting and testing the model package...")
        try:
            path = results.export_model(self.prepared.out)
        except Exception as err:
            self.say(f"could not export the model: {type(err).__name__}: {err}", "error")
            return None
        self.say(f"done: model exported to {path}", "done")
        return path
