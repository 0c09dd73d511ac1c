"""A no-code app in JupyterLab (or served as a web page by Voilà): pick a dataset or a folder of
image pairs and a task, set a few parameters, train with a live loss plot and a progress bar,
look at predictions on held-out images next to the classical baseline, write them as OME-TIFF
and export the model.

- :mod:`~im2im_helpers.app.recipe` — settings, the output folder, the pairs, the run;
- :mod:`~im2im_helpers.app.live` — training progress reported per step and epoch;
- :mod:`~im2im_helpers.app.results` — predictions, baseline, metrics, written files, export;
- :mod:`~im2im_helpers.app.widgets` — the widgets.

In a notebook: ``from im2im_helpers import app; app.app()``. As a web page:
``voila $(python -c "import im2im_helpers.app as a; print(a.NOTEBOOK)")``.
"""

from __future__ import annotations

from pathlib import Path

from im2im_helpers.app.recipe import LEVELS, AppError, Settings
from im2im_helpers.app.widgets import App

__all__ = ["LEVELS", "NOTEBOOK", "App", "AppError", "Settings", "app"]

#: The notebook Voilà serves (one cell: the app).
NOTEBOOK = Path(__file__).resolve().parent / "voila.ipynb"


def app(out: str | None = None, source: str | None = None) -> App:
    """The app (displayed when it is a cell's last value).

    Parameters
    ----------
    out : str, optional
        The output folder the form starts with.
    source : str, optional
        A dataset name or folder the form starts with.
    """
    return App(out=out, source=source)
