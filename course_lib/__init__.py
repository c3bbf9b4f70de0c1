"""course_lib: the techniques of the lecture "Neural networks for art", one readable module each.

Start with ``load_model()`` (EfficientNet-Lite0, offline) and ``sample_image("chelsea")``.

Layers, read top-down like the lecture; a module imports only from its own layer or the ones below
(no circle, and no import hidden inside a function to dodge one; ``tests/test_architecture.py``):

    package     __init__                                the public names, re-exported from any layer
    programs    fetch, doctor, notebook_runner          the command lines (python -m course_lib.X)
    course      exercises, exercises_attribution (cases) on checker (engine); grade (the class, the command
                line) on grade_checks (one notebook's tasks) on grade_session (its socket, its answers),
                grade_sandbox (choose a sandbox, start a slot), grade_worker, grade_wire, grade_report;
                grade_zygote (inside a slot: forks each notebook) on grade_sandbox and grade_worker
    techniques  filters, hubel_wiesel, transposed, feature_vis, class_model, dream, saliency,
                deconvnet_projection, deconvnet, sanity,
                style_losses, style_recipes, style_canvas, style, style_speed, judge, style_regions,
                fast_style_net, fast_style_losses, fast_style (and any new technique module)
    display     display (figures, widgets)
    base        config, i18n, assets, images, samples, generated_art, hooks, progress, live_output,
                efficientnet_lite, course_model (what a loaded net offers), inference_net (its faster frozen copy),
                models (build/load), style_checks

Third-party packages that are heavy or optional (ipywidgets, IPython, skimage's data) may be imported
inside a function; course_lib's own modules never are.
"""
from .config import QUICK
from .grad_cam import grad_cam, guided_grad_cam
from .images import ImageError, load_image
from .integrated_gradients import integrated_gradients
from .models import ModelUnavailableError, UnknownNameError, load_model
from .occlusion import occlusion_map
from .samples import list_samples, sample_image
from .style_regions import style_by_region, style_by_scale

__version__ = "0.1.0"
__all__ = ["QUICK", "ImageError", "ModelUnavailableError", "UnknownNameError", "grad_cam", "guided_grad_cam",
           "integrated_gradients", "list_samples", "load_image", "load_model", "occlusion_map", "sample_image",
           "style_by_region", "style_by_scale"]
