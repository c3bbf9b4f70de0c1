"""Showing pictures and building the small widgets every lecture notebook shares.

* ``show_images``: a titled grid of images (PIL, [1,3,H,W]/[3,H,W] tensors in [0, 1], or arrays).
* ``image_picker``: a dropdown of offline samples plus a file upload and a URL box.
* ``readable_errors``: inside a widget callback, turns course_lib errors into a short red
  message in the widget's output instead of a traceback (the lecture must not fail in class).
"""
import html
import io
from contextlib import contextmanager

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from .i18n import tr
from .images import ImageError, list_samples, load_image, sample_image, tensor_to_image


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


@contextmanager
def readable_errors(output=None):
    """Show a course_lib error as one red line (in ``output`` if given) and carry on."""
    from IPython.display import HTML, display

    try:
        yield
    except (ValueError, KeyError, IndexError, RuntimeError, OSError) as e:
        if output is not None:
            with output:
                display(HTML(error_html(e)))
        else:
            display(HTML(error_html(e)))


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
