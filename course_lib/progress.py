"""Long optimisations that behave well in class: progress, a live image, Ctrl-C, NaN guard.

Every iterative technique (class visualisation, DeepDream, style transfer, training)
wraps its loop in ``Optimisation``::

    with Optimisation(steps, "style transfer", live=True) as run:
        for i in range(steps):
            loss = ...                      # one step
            if not run.step(loss, image):   # False: loss was NaN/inf, or exploded
                break
    image, history = run.best_image(image), run.history

* progress bar (tqdm.auto: a widget in Jupyter, text elsewhere);
* ``live``: an image widget refreshed every ``live_every`` steps while it runs, and
  closed when the run ends (the caller shows the final picture);
* KeyboardInterrupt (the notebook's stop button) ends the loop early with a warning and
  the current image is kept: nothing is lost by stopping;
* a non-finite or exploding loss ends the loop with a ``DivergenceWarning``, and
  ``best_image`` returns the last image whose loss was finite.
"""
import math
import warnings

import torch
from tqdm.auto import tqdm

from .i18n import tr, trn


class DivergenceWarning(UserWarning):
    """The optimisation produced NaN/inf or exploded; the last good image was kept."""


class InterruptedWarning(UserWarning):
    """The user stopped the run; the current image was kept."""


class Optimisation:
    def __init__(self, steps: int, desc: str, live: bool = False, live_every: int = 10,
                 explode_factor: float = 1e6, to_image=None, quiet: bool = False):
        self.steps, self.desc = steps, desc
        self.live, self.live_every = live, max(1, live_every)
        self.explode_factor = explode_factor
        self.to_image = to_image      # tensor -> PIL image, for the live view
        self.quiet = quiet
        self.history = []             # one loss value per step
        self.last_good = None         # detached copy of the last image with a finite loss
        self.stopped = None           # None, "interrupted" or "diverged"
        self._bar = None
        self._widget = None

    def __enter__(self):
        self._bar = tqdm(total=self.steps, desc=self.desc, leave=False, disable=self.quiet)
        if self.live and self.to_image is not None:
            self._widget = _live_image_widget()
        return self

    def step(self, loss, image: torch.Tensor | None = None) -> bool:
        """Record one step; returns False when the loop must stop (divergence)."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value) or (self.history and abs(value) > self.explode_factor * max(abs(self.history[0]), 1e-12) + 1e3):
            self.stopped = "diverged"
            warnings.warn(tr("{desc}: the loss became {value:g} at step {step}; stopped and kept the last good "
                             "image (try a smaller step size)", desc=self.desc, value=value,
                             step=len(self.history)), DivergenceWarning, stacklevel=2)
            return False
        self.history.append(value)
        if image is not None:
            self.last_good = image.detach().clone()
            if self._widget is not None and (len(self.history) % self.live_every == 0):
                _show(self._widget, self.to_image(self.last_good))
        self._bar.update(1)
        self._bar.set_postfix(loss=f"{value:.4g}")
        return True

    def best_image(self, current: torch.Tensor) -> torch.Tensor:
        """The image to return: the current one, unless the run diverged."""
        if self.stopped == "diverged" and self.last_good is not None:
            return self.last_good
        return current.detach()

    def __exit__(self, exc_type, exc, tb):
        self._bar.close()
        if self._widget is not None:
            # The preview has done its job: the caller shows the final picture (in full size,
            # often in the same Output widget), so the preview must not stay above it.
            self._widget.close()
            self._widget = None
        if exc_type is KeyboardInterrupt:
            self.stopped = "interrupted"
            warnings.warn(trn("{desc}: interrupted after {n} step; returning the current image",
                              "{desc}: interrupted after {n} steps; returning the current image",
                              len(self.history), desc=self.desc), InterruptedWarning, stacklevel=2)
            return True  # swallow Ctrl-C: the caller returns what it has
        return False


def _live_image_widget():
    try:
        import ipywidgets as widgets
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    if get_ipython() is None:
        return None
    widget = widgets.Image(format="png", layout=widgets.Layout(max_width="420px"))
    display(widget)
    return widget


def _show(widget, image):
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    widget.value = buffer.getvalue()
