"""Showing pictures and building the small widgets every lecture notebook shares.

* ``show_images``: a titled grid of images (PIL, [1,3,H,W]/[3,H,W] tensors in [0, 1], or arrays).
* ``image_picker``: a dropdown of offline samples plus a file upload and a URL box.
* ``readable_errors``: inside a widget callback, turns course_lib errors into a short red
  message in the widget's output instead of a traceback (the lecture must not fail in class).
  Under test (``COURSE_LIB_TESTING=1``) it re-raises, unless the error was declared with
  ``expect=`` or ``expected_error`` (a deliberate bad-input demonstration), which must then come.

Importing this module (``import course_lib`` does) makes every linear axis label its ticks with
``LocalisedScalarFormatter``: ``0,5`` when the language is Russian, matplotlib's own ``0.5`` otherwise.
"""
import html
import io
import re
from contextlib import contextmanager

import matplotlib.pyplot as plt
from matplotlib import scale as mscale
from matplotlib import ticker
import numpy as np
import torch
from PIL import Image

from .config import testing
from .i18n import decimal_comma, tr
from .images import ImageError, load_image, tensor_to_image
from .live_output import LiveOutput   # noqa: F401  (the notebooks' Output widget)
from .samples import list_samples, sample_image


class LocalisedScalarFormatter(ticker.ScalarFormatter):
    """matplotlib's tick labels with the language's decimal sign, chosen at draw time (no system locale needed)."""

    def __call__(self, x, pos=None):
        return decimal_comma(super().__call__(x, pos))

    def format_data_short(self, value):
        return decimal_comma(super().format_data_short(value))

    def get_offset(self):
        return decimal_comma(super().get_offset())


class _LocalisedLinearScale(mscale.LinearScale):
    """The default ``"linear"`` scale, its ticks labelled by ``LocalisedScalarFormatter``."""

    def __init__(self, *args):      # matplotlib < 3.11 passes the axis; 3.11 warns at a parameter named "axis"
        super().__init__(*args)

    def set_default_locators_and_formatters(self, axis):
        super().set_default_locators_and_formatters(axis)
        axis.set_major_formatter(LocalisedScalarFormatter())


# one place for every figure, the course's and the student's: new axes take the "linear" scale by name
mscale.register_scale(_LocalisedLinearScale)


def as_image(item):
    """PIL image from a PIL image, a [0, 1] tensor or an array (2-D arrays stay single-channel)."""
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, torch.Tensor):
        if item.dim() == 2:
            return item.detach().float().cpu().numpy()
        return tensor_to_image(item)
    return np.asarray(item)


def show_images(images, titles=None, ncols=None, size=3.0, cmap=None, suptitle=None):
    """Show images side by side (wrapping after ``ncols``); returns the matplotlib figure."""
    images = list(images)
    n = len(images)
    ncols = ncols or min(n, 6)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            picture = as_image(images[i])
            ax.imshow(picture, cmap=cmap if np.ndim(picture) == 2 else None)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_top_k(predictions, title=None, ax=None):
    """Horizontal bars of [(category, probability)] as returned by ``CourseModel.classify``."""
    names = [name for name, _ in predictions][::-1]
    probs = [p for _, p in predictions][::-1]
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 0.35 * len(names) + 0.6))
    ax.barh(names, probs, color="tab:blue")
    ax.set_xlim(0, 1)
    ax.set_xlabel(tr("probability"))
    if title:
        ax.set_title(title)
    return ax


def show_prediction(model, image, k=5, title=None):
    """The image beside the model's top-k class bars (slide: "Сверточные сети — сложный черный ящик?")."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [1, 1.2]})
    left.imshow(as_image(image))
    left.axis("off")
    if title:
        left.set_title(title)
    show_top_k(model.classify(image, k=k), ax=right)
    fig.tight_layout()
    return fig


def error_html(error: Exception) -> str:
    return f'<div style="color:#b00020;font-weight:bold">⚠ {html.escape(type(error).__name__)}: {html.escape(str(error))}</div>'


READABLE = (ValueError, KeyError, IndexError, RuntimeError, OSError)   # shown as one red line in class
_declared = []   # stack of [kinds, match, errors seen] opened by ``expected_error``


def _kinds(expect) -> tuple:
    return () if expect is None else expect if isinstance(expect, tuple) else (expect,)


def _fits(error, kinds, match) -> bool:
    return isinstance(error, kinds) and (match is None or re.search(match, str(error)) is not None)


def _names(kinds) -> str:
    return " or ".join(k.__name__ for k in kinds)


@contextmanager
def readable_errors(output=None, expect=None, match=None):
    """Show a course_lib error as one red line (in ``output`` if given) and carry on.

    In class (and in the gallery) every ValueError, KeyError, IndexError, RuntimeError and OSError
    becomes the red line. Under test (``testing()``) the red line is shown and the error re-raised,
    so nbval fails the cell: a broken widget callback cannot hide behind the message. Deliberate
    bad-input demonstrations say which error they expect, and under test that error must come:

        with readable_errors(expect=ImageError):          # the block itself is the demonstration
            load_image(b"not a picture")
        with expected_error(ValueError, match="out of range"):
            filter_picker.value = 999                      # the widget's callback shows the error

    ``match`` (a regular expression searched in the message) narrows ``expect`` further.
    """
    from IPython.display import HTML, display

    expected = _kinds(expect)
    try:
        yield
    except READABLE + expected + sum((entry[0] for entry in _declared), ()) as e:
        if output is not None:
            with output:
                display(HTML(error_html(e)))
        else:
            display(HTML(error_html(e)))
        declared = bool(expected) and _fits(e, expected, match)
        for kinds, pattern, seen in reversed(_declared):
            if not declared and _fits(e, kinds, pattern):
                seen.append(e)
                declared = True
        if testing() and not declared:
            raise
    else:
        if expected and testing():
            raise AssertionError(f"a deliberate bad-input demonstration expected {_names(expected)}"
                                 + (f" matching {match!r}" if match else "") + ", but no error came")


@contextmanager
def expected_error(expect, match=None):
    """Declare that the widget callbacks run inside this block show ``expect`` through ``readable_errors``.

    For demonstrations that set a widget to a bad value: in class nothing changes; under test the
    declared error must have reached ``readable_errors`` at least once, and any other error fails.
    """
    entry = (_kinds(expect), match, [])
    _declared.append(entry)
    try:
        yield
    finally:
        _declared.remove(entry)
    if testing() and not entry[2]:
        raise AssertionError(f"a deliberate bad-input demonstration expected {_names(entry[0])}"
                             + (f" matching {match!r}" if match else "") + " from a widget callback, but none came")


def image_picker(default="chelsea", kinds=("photo", "style"), description=None):
    """A widget box to choose an image: offline samples, an uploaded file, or a URL.

    Returns ``(box, get_image)``; ``get_image()`` gives the chosen PIL image or raises
    ``ImageError`` with a readable message. The box's ``.observe`` fires on any change.
    """
    import ipywidgets as widgets

    samples = [name for name, kind in list_samples().items() if kind in kinds]
    uploaded, from_url = tr("(uploaded file)"), tr("(URL)")   # option labels in the user's language
    dropdown = widgets.Dropdown(options=samples + [uploaded, from_url], value=default,
                                description=tr("image") if description is None else description)
    upload = widgets.FileUpload(accept="image/*", multiple=False, description=tr("upload"))
    url = widgets.Text(placeholder=tr("https://… (needs internet)"), description="URL", continuous_update=False)
    box = widgets.HBox([dropdown, upload, url])

    def on_upload(change):
        if upload.value:
            dropdown.value = uploaded

    def on_url(change):
        if url.value:
            dropdown.value = from_url

    upload.observe(on_upload, names="value")
    url.observe(on_url, names="value")

    def get_image():
        choice = dropdown.value
        if choice == uploaded:
            if not upload.value:
                raise ImageError(tr("no file uploaded yet: click '{button}' first", button=upload.description))
            item = upload.value[0] if isinstance(upload.value, (tuple, list)) else next(iter(upload.value.values()))
            return load_image(bytes(item["content"]))
        if choice == from_url:
            if not url.value:
                raise ImageError(tr("no URL given yet"))
            return load_image(url.value)
        return sample_image(choice)

    box.dropdown, box.upload, box.url = dropdown, upload, url

    def observe(callback):
        for w in (dropdown, upload, url):
            w.observe(lambda change: callback(), names="value")

    box.on_change = observe
    return box, get_image


def figure_to_image(fig) -> Image.Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
