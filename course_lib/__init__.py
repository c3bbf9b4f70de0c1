"""course_lib: the techniques of the lecture "Neural networks for art", one readable module each.

Start with ``load_model()`` (EfficientNet-Lite0, offline) and ``sample_image("chelsea")``.
"""
from .config import QUICK
from .images import ImageError, load_image
from .samples import list_samples, sample_image
from .models import ModelUnavailableError, UnknownNameError, load_model

__version__ = "0.1.0"
__all__ = ["QUICK", "ImageError", "ModelUnavailableError", "UnknownNameError",
           "list_samples", "load_image", "load_model", "sample_image"]
