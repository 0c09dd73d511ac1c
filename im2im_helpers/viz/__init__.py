"""Figures: what a tutorial shows.

- :mod:`~im2im_helpers.viz.figures` — input | prediction | target grids, loss curves and loss
  terms, line profiles, sweeps, power spectra, histograms, a slice/time browser;
- :mod:`~im2im_helpers.viz.overlays` — masks coloured by agreement with the truth, instance
  outlines, a threshold slider;
- :mod:`~im2im_helpers.viz.layers` — our output files as napari layers (``napari_layers``).

Every widget also draws a static figure (widgets do not render in the book). The functions of
:mod:`~im2im_helpers.viz.figures` are available here directly (``viz.compare``).
"""

from im2im_helpers.viz import overlays
from im2im_helpers.viz.figures import (
    browse,
    center_crop,
    compare,
    compare_colour,
    finish_figure,
    histograms,
    line_profiles,
    loss_curves,
    loss_terms,
    panel_grid,
    plane_of,
    png_bytes,
    power_spectra,
    save_figure,
    slider_figure,
    static_and_slider,
    sweep,
)
from im2im_helpers.viz.layers import napari_layers

__all__ = [
    "browse", "center_crop", "compare", "compare_colour", "finish_figure", "histograms",
    "line_profiles", "loss_curves", "loss_terms", "napari_layers", "overlays", "panel_grid",
    "plane_of", "png_bytes", "power_spectra", "save_figure", "slider_figure", "static_and_slider",
    "sweep",
]
