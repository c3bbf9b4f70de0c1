"""course_lib: the techniques of the lecture "Neural networks for art", one readable module each.

Start with ``load_model()`` (EfficientNet-Lite0, offline) and ``sample_image("chelsea")``.
"""
from .config import QUICK
from .grad_cam import grad_cam, guided_grad_cam
from .images import ImageError, list_samples, load_image, sample_image
from .integrated_gradients import integrated_gradients
from .models import ModelUnavailableError, UnknownNameError, load_model
from .occlusion import occlusion_map

__version__ = "0.1.0"
__all__ = ["QUICK", "ImageError", "ModelUnavailableError", "UnknownNameError", "grad_cam", "guided_grad_cam",
           "integrated_gradients", "list_samples", "load_image", "load_model", "occlusion_map", "sample_image"]
