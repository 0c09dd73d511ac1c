"""Correcting a crop's mask by hand: paint, erase, split and merge objects, accept.

The editing lives in :class:`MaskEditor`, plain Python on arrays (strokes of points in pixel
coordinates → label-image changes; accept → a new version in the
:class:`~im2im_helpers.active.annotations.AnnotationStore`), so it is tested without a browser.
:class:`AnnotationCanvas` is the JupyterLab widget around it: an ipycanvas ``MultiCanvas`` (the
crop, the mask on top) that only draws and forwards mouse events to the editor, with buttons
``paint``, ``erase``, ``split``, ``merge``, ``undo`` and ``accept``. :func:`static_figure` draws
the crop and its mask with matplotlib, for pages where widgets do not run (the book).

The tools:

* **paint** — a stroke of disks of ``radius`` pixels; the stroke takes the label of the object
  under its first point, or a new label when it starts on background;
* **erase** — the same stroke sets background;
* **split** — a line drawn across an object cuts it: if the line separates it into pieces
  (4-connected), the largest piece keeps the label, the others get new ones, and the pixels
  under the line join the nearest piece (the foreground does not change); a line that does not
  separate anything changes nothing;
* **merge** — every object the stroke touches takes the smallest of their labels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from scipy import ndimage as ndi

from im2im_helpers.active.annotations import AnnotationStore, Version, as_labels
from im2im_helpers.active.annotator import CONNECTIVITY
from im2im_helpers.viz.figures import finish_figure
from im2im_helpers.viz.overlays import label_outlines

#: The editing tools, as named on the widget's buttons.
TOOLS = ("paint", "erase", "split", "merge")
#: Every button of the widget, by its description.
BUTTONS = (*TOOLS, "undo", "accept")
#: Shown size, in screen pixels, of the annotation canvas's longer side.
DISPLAY = 448

Point = tuple[float, float]


def _points(points: Sequence[Point]) -> np.ndarray:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not len(array):
        raise ValueError("a stroke needs at least one point (y, x).")
    return array


def line_pixels(points: Sequence[Point], shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of the 8-connected pixel line through ``points`` ((y, x) pairs, rounded
    to pixels), clipped to ``shape``."""
    from skimage.draw import line

    pts = np.round(_points(points)).astype(int)
    mask = np.zeros(shape, bool)
    segments = zip(pts[:-1], pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]
    for (y0, x0), (y1, x1) in segments:
        rr, cc = line(y0, x0, y1, x1)
        keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        mask[rr[keep], cc[keep]] = True
    return mask


def stroke_pixels(points: Sequence[Point], radius: float, shape: tuple[int, int]) -> np.ndarray:
    """A boolean mask of a brush stroke: every pixel within ``radius`` of the line through
    ``points`` ((y, x) pairs in pixel coordinates); ``radius`` 0 is the line itself."""
    mask = line_pixels(points, shape)
    if radius <= 0:
        return mask
    return ndi.distance_transform_edt(~mask) <= radius


class MaskEditor:
    """The editing state of one crop: its image, its current label image, undo history and
    the versions saved.

    Parameters
    ----------
    image : numpy.ndarray
        The crop, ``(C, Y, X)`` or ``(Y, X)``.
    labels : numpy.ndarray, optional
        The mask to correct (label image or boolean, ``(Y, X)`` or ``(1, Y, X)``); default
        empty.
    crop : str
        The crop's id (where :meth:`accept` saves).
    store : AnnotationStore, optional
        Where :meth:`accept` saves; without one, accepting is refused.
    round : int, optional
        The loop round, recorded with a saved version.

    Attributes
    ----------
    labels : numpy.ndarray
        The current ``(Y, X)`` uint32 label image (0 = background).
    saved_versions : list of Version
        What :meth:`accept` saved, oldest first.
    """

    def __init__(self, image: np.ndarray, labels: np.ndarray | None = None, crop: str = "crop",
                 store: AnnotationStore | None = None, round: int | None = None):
        image = np.asarray(image, dtype=np.float32)
        self.image = image if image.ndim == 3 else image[None]
        if self.image.ndim != 3:
            raise ValueError(f"crop {crop}: image of shape {np.shape(image)}; give (C, Y, X) or "
                             "(Y, X).")
        self.shape = self.image.shape[-2:]
        self.crop, self.store, self.round = crop, store, round
        if labels is None:
            labels = np.zeros(self.shape, np.uint32)
        self.labels = as_labels(labels, crop)
        if self.labels.shape != self.shape:
            raise ValueError(f"crop {crop}: mask {self.labels.shape} and image {self.shape} "
                             "differ in shape (Y, X); give the mask of this crop.")
        self.history: list[np.ndarray] = []
        self.saved_versions: list[Version] = []

    @property
    def foreground(self) -> np.ndarray:
        """The current boolean foreground."""
        return self.labels > 0

    def remember(self) -> None:
        """Keep the current labels for :meth:`undo` (each tool call does so unless told not
        to, so one stroke drawn in pieces is undone at once)."""
        self.history.append(self.labels.copy())

    def undo(self) -> bool:
        """Go back to the labels before the last edit; ``False`` when there is none."""
        if not self.history:
            return False
        self.labels = self.history.pop()
        return True

    def new_label(self) -> int:
        """A label no object has yet."""
        return int(self.labels.max()) + 1

    def label_at(self, point: Point) -> int:
        """The label under ``point`` (0 outside the crop)."""
        y, x = (int(round(v)) for v in point)
        if 0 <= y < self.shape[0] and 0 <= x < self.shape[1]:
            return int(self.labels[y, x])
        return 0

    def paint(self, points: Sequence[Point], radius: float = 2, label: int | None = None,
              record: bool = True) -> int:
        """Paint a stroke; returns the label painted (see the module's description)."""
        if label is None:
            label = self.label_at(_points(points)[0]) or self.new_label()
        if record:
            self.remember()
        self.labels[stroke_pixels(points, radius, self.shape)] = int(label)
        return int(label)

    def erase(self, points: Sequence[Point], radius: float = 2, record: bool = True) -> int:
        """Erase a stroke to background; returns how many foreground pixels it cleared."""
        where = stroke_pixels(points, radius, self.shape) & self.foreground
        if record:
            self.remember()
        self.labels[where] = 0
        return int(where.sum())

    def split(self, points: Sequence[Point], record: bool = True) -> list[int]:
        """Cut the objects crossed by the line through ``points``; returns the new labels made
        (empty when the line separates nothing, and then nothing changes)."""
        cut = line_pixels(points, self.shape)
        touched = [int(v) for v in np.unique(self.labels[cut]) if v]
        result = self.labels.copy()
        made: list[int] = []
        next_label = self.new_label()
        for value in touched:
            obj = self.labels == value
            pieces, count = ndi.label(obj & ~cut, structure=CONNECTIVITY)
            if count < 2:
                continue
            sizes = np.bincount(pieces.ravel())[1:]
            keep = int(np.argmax(sizes)) + 1
            piece_labels = np.zeros(self.shape, np.uint32)
            for k in range(1, count + 1):
                if k == keep:
                    piece_labels[pieces == k] = value
                else:
                    piece_labels[pieces == k] = next_label
                    made.append(next_label)
                    next_label += 1
            # the cut pixels of the object join the nearest piece: the foreground stays as it was
            _, nearest = ndi.distance_transform_edt(piece_labels == 0, return_indices=True)
            filled = piece_labels[tuple(nearest)]
            result[obj] = filled[obj]
        if made:
            if record:
                self.remember()
            self.labels = result
        return made

    def merge(self, points: Sequence[Point], radius: float = 0, record: bool = True) -> int:
        """Give every object under the stroke the smallest of their labels; returns that
        label (0 when the stroke touches fewer than two objects, and nothing changes)."""
        under = self.labels[stroke_pixels(points, radius, self.shape)]
        touched = sorted(int(v) for v in np.unique(under) if v)
        if len(touched) < 2:
            return 0
        if record:
            self.remember()
        self.labels[np.isin(self.labels, touched[1:])] = touched[0]
        return touched[0]

    def accept(self, source: str = "person") -> Version:
        """Save the current labels as the crop's next version (never over an earlier one).

        Raises
        ------
        RuntimeError
            If the editor has no store.
        """
        if self.store is None:
            raise RuntimeError(f"crop {self.crop}: this editor has no annotation store to save "
                               "into; make it with store=AnnotationStore(folder).")
        version = self.store.save(self.crop, self.labels, self.image.shape, source=source,
                                  round=self.round)
        self.saved_versions.append(version)
        return version


def grey_uint8(image: np.ndarray) -> np.ndarray:
    """``(C, Y, X)`` or ``(Y, X)`` as 8-bit grey (channel mean, 1st-99.8th percentile)."""
    image = np.asarray(image, dtype=np.float32)
    grey = image.mean(axis=0) if image.ndim == 3 else image
    low, high = np.percentile(grey, (1.0, 99.8))
    scaled = np.clip((grey - low) / (high - low if high > low else 1.0), 0, 1)
    return np.round(scaled * 255).astype(np.uint8)


def label_colours(count: int, seed: int = 0) -> np.ndarray:
    """``(count + 1, 3)`` uint8 colours, one per label (row 0, background, is black)."""
    colours = np.random.default_rng(seed).uniform(0.3, 1.0, (count + 1, 3))
    colours[0] = 0
    return np.round(colours * 255).astype(np.uint8)


def overlay_rgba(labels: np.ndarray, alpha: float = 0.4, seed: int = 0) -> np.ndarray:
    """A ``(Y, X, 4)`` uint8 picture of a label image: each object in its own colour,
    translucent inside and opaque on its outline; background transparent."""
    from skimage.segmentation import find_boundaries

    labels = np.asarray(labels).astype(np.int64)
    rgba = np.zeros((*labels.shape, 4), np.uint8)
    rgba[..., :3] = label_colours(int(labels.max()), seed)[labels]
    rgba[..., 3] = np.where(labels > 0, round(alpha * 255), 0)
    rgba[find_boundaries(labels, mode="inner") & (labels > 0), 3] = 255
    return rgba


def static_figure(image: np.ndarray, labels: np.ndarray, path: str | os.PathLike | None = None,
                  title: str | None = None) -> plt.Figure:
    """The crop and its mask (object outlines in their colours) side by side, as a matplotlib
    figure (saved to ``path`` when given): what the canvas shows, for the book."""
    image = np.asarray(image, dtype=np.float32)
    labels = as_labels(labels, title or "crop")
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.4))
    axes[0].imshow(grey_uint8(image), cmap="gray")
    axes[0].set_title("crop", fontsize=10)
    axes[1].imshow(label_outlines(image if image.ndim == 3 else image[None], labels))
    axes[1].set_title(f"mask ({len(np.unique(labels[labels > 0]))} objects)", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    return finish_figure(fig, path, title)


def display_size(shape: tuple[int, int], scale: int,
                 display: int | None = None) -> tuple[int, int]:
    """The shown ``(height, width)`` in screen pixels of a canvas of an image of ``shape``
    drawn ``scale`` times enlarged: its longer side ``display`` (aspect ratio kept), or the
    canvas's own size when ``display`` is ``None``."""
    height, width = (int(v) for v in shape)
    if display is None:
        return height * int(scale), width * int(scale)
    factor = int(display) / max(height, width)
    return max(1, round(height * factor)), max(1, round(width * factor))


class AnnotationCanvas:
    """The JupyterLab widget of a :class:`MaskEditor`: draw on the crop with the mouse.

    Parameters
    ----------
    editor : MaskEditor
        The editing state (the widget draws it and forwards strokes to it).
    scale : int, optional
        Canvas pixels per image pixel (the crop and mask are drawn enlarged by this factor);
        default: enough for the longer side to fill ``display``.
    radius : int
        Starting brush radius in image pixels (a slider changes it).
    source : str
        Recorded as the source of accepted versions.
    display : int or None
        Shown size of the canvas's longer side in screen (CSS) pixels, default 448, so a 64-pixel
        crop is large enough to draw on in JupyterLab and Voilà; ``None`` shows the canvas at its
        own pixel size. The browser scales the mouse position back to canvas pixels, so strokes
        land on the image pixels under the pointer whatever the shown size.

    Attributes
    ----------
    canvas : ipycanvas.MultiCanvas
        Layer 0 the crop, layer 1 the mask.
    buttons : dict
        ``ipywidgets.Button`` by description (:data:`BUTTONS`).
    widget : ipywidgets.VBox
        What is displayed.

    Notes
    -----
    The shown size is :attr:`display_size` (screen pixels, ``(height, width)``).
    The state is observable for browser tests: :attr:`labels` (the current mask),
    :attr:`saved_versions`, :attr:`tool`, :attr:`status` (its text names the last saved
    version); the mouse handlers :meth:`mouse_down`, :meth:`mouse_move` and :meth:`mouse_up`
    take canvas coordinates as ipycanvas gives them. In the page, the widget carries the CSS
    class ``im2im-annotation``, its canvas ``im2im-annotation-canvas``, and each button its
    description as text.
    """

    def __init__(self, editor: MaskEditor, scale: int | None = None, radius: int = 2,
                 source: str = "person", display: int | None = DISPLAY):
        import ipywidgets as widgets
        from ipycanvas import MultiCanvas

        height, width = editor.shape
        if display is not None and int(display) < 1:
            raise ValueError(f"display={display!r}: give the shown size of the canvas's longer "
                             "side in screen pixels (e.g. 448), or None for its own size.")
        if scale is None:
            scale = -(-int(display or DISPLAY) // max(height, width))  # ceiling division
        self.editor, self.scale, self.source = editor, max(1, int(scale)), source
        self.canvas = MultiCanvas(2, width=width * self.scale, height=height * self.scale)
        self.display_size = display_size(editor.shape, self.scale, display)
        self.canvas.layout = widgets.Layout(width=f"{self.display_size[1]}px",
                                            height=f"{self.display_size[0]}px",
                                            flex="0 0 auto")
        self.buttons = {name: widgets.Button(description=name, tooltip=name,
                                             layout=widgets.Layout(width="72px"))
                        for name in BUTTONS}
        self.brush = widgets.IntSlider(value=int(radius), min=0, max=20, description="brush")
        self.status = widgets.Label(value=f"crop {editor.crop}")
        self.tool = "paint"
        self.stroke: list[Point] = []
        self.stroke_label: int | None = None
        for name in TOOLS:
            self.buttons[name].on_click(lambda _b, n=name: self.choose(n))
        self.buttons["undo"].on_click(lambda _b: self.undo())
        self.buttons["accept"].on_click(lambda _b: self.accept())
        self.canvas.on_mouse_down(self.mouse_down)
        self.canvas.on_mouse_move(self.mouse_move)
        self.canvas.on_mouse_up(self.mouse_up)
        self.canvas.on_mouse_out(self.mouse_up)  # a stroke dragged off the canvas ends there
        self.canvas.add_class("im2im-annotation-canvas")
        self.widget = widgets.VBox([widgets.HBox([*self.buttons.values(), self.brush]),
                                    self.canvas, self.status])
        self.widget.add_class("im2im-annotation")
        self.choose("paint")
        self.draw_image()
        self.draw_mask()

    # -- observable state ------------------------------------------------------------------
    @property
    def labels(self) -> np.ndarray:
        """The current mask (the editor's label image)."""
        return self.editor.labels

    @property
    def saved_versions(self) -> list[Version]:
        """The versions accepted so far."""
        return self.editor.saved_versions

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # -- drawing ---------------------------------------------------------------------------
    def upscaled(self, array: np.ndarray) -> np.ndarray:
        """``array`` (Y, X, ...) repeated ``scale`` times along Y and X."""
        return np.repeat(np.repeat(array, self.scale, axis=0), self.scale, axis=1)

    def draw_image(self) -> None:
        """Draw the crop on layer 0."""
        grey = grey_uint8(self.editor.image)
        self.canvas[0].put_image_data(self.upscaled(np.stack([grey] * 3, axis=-1)), 0, 0)

    def draw_mask(self) -> None:
        """Draw the current mask on layer 1 (one message to the browser)."""
        from ipycanvas import hold_canvas

        with hold_canvas(self.canvas):
            self.canvas[1].clear()
            self.canvas[1].put_image_data(self.upscaled(overlay_rgba(self.editor.labels)), 0, 0)

    # -- tools -----------------------------------------------------------------------------
    def choose(self, tool: str) -> None:
        """Make ``tool`` (one of :data:`TOOLS`) the current one."""
        if tool not in TOOLS:
            raise ValueError(f"tool={tool!r}: choose one of {TOOLS}.")
        self.tool = tool
        for name in TOOLS:
            self.buttons[name].button_style = "info" if name == tool else ""
        self.status.value = f"crop {self.editor.crop}: {tool}"

    def undo(self) -> None:
        """Undo the last edit and redraw."""
        if self.editor.undo():
            self.draw_mask()

    def accept(self) -> Version:
        """Save the current mask as a new version; the status line names it."""
        version = self.editor.accept(self.source)
        self.status.value = f"crop {self.editor.crop}: saved version {version.version}"
        return version

    def to_image(self, x: float, y: float) -> Point:
        """Canvas coordinates (x, y) → image coordinates (y, x)."""
        return (y / self.scale - 0.5, x / self.scale - 0.5)

    def mouse_down(self, x: float, y: float) -> None:
        """Start a stroke (paint and erase act at once, stroke by stroke)."""
        point = self.to_image(x, y)
        self.stroke = [point]
        radius = self.brush.value
        if self.tool == "paint":
            self.stroke_label = self.editor.paint([point], radius)
        elif self.tool == "erase":
            self.editor.erase([point], radius)
        self.draw_mask()

    def mouse_move(self, x: float, y: float) -> None:
        """Extend the stroke while the button is down."""
        if not self.stroke:
            return
        point = self.to_image(x, y)
        segment = [self.stroke[-1], point]
        self.stroke.append(point)
        radius = self.brush.value
        if self.tool == "paint":
            self.editor.paint(segment, radius, self.stroke_label, record=False)
            self.draw_mask()
        elif self.tool == "erase":
            self.editor.erase(segment, radius, record=False)
            self.draw_mask()

    def mouse_up(self, x: float, y: float) -> None:
        """Finish the stroke: split or merge along it."""
        if not self.stroke:
            return
        self.stroke.append(self.to_image(x, y))
        if self.tool == "split":
            made = self.editor.split(self.stroke)
            self.status.value = (f"crop {self.editor.crop}: split into {len(made) + 1} objects"
                                 if made else f"crop {self.editor.crop}: the line separated "
                                 "nothing; draw it right across the object")
        elif self.tool == "merge":
            merged = self.editor.merge(self.stroke, self.brush.value)
            self.status.value = (f"crop {self.editor.crop}: merged into object {merged}"
                                 if merged else f"crop {self.editor.crop}: touch two objects "
                                 "to merge them")
        self.stroke, self.stroke_label = [], None
        self.draw_mask()
