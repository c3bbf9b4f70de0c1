"""Which map is right? Every attribution method behind one switch, measured three ways (notebook 05b).

relevance(model, image, c, method) gives an [H, W] map R for each of ``METHODS``:
gradient, deconvnet, guided backprop, SmoothGrad (notebook 05: R = max_ch |w|), occlusion (the drop
of p_c), Grad-CAM, Guided Grad-CAM (max_ch |.|) and integrated gradients (sum over channels: each
pixel's share of p_c(x) - p_c(x')). Then three questions, each a number:

* faithful to the network? Petsiuk, Das & Saenko, "RISE" (BMVC 2018): delete the pixels in the
  order of R (set them to grey), or insert them into a blurred copy, and watch p_c:
      deletion AUC  = area under p_c(k % of the pixels deleted),  k = 0..100   (low: faithful)
      insertion AUC = area under p_c(k % of the pixels inserted)               (high: faithful)
  A second network (the ``judge``) can score the same images: a map faithful only to the
  network that made it is then caught.
* localises the object?  energy in the box = sum of R+ inside the object's box / sum of R+
  (Wang et al., Score-CAM 2020); chance is the box's share of the image.
* depends on the model?  Adebayo et al. 2018 (notebook 05): Spearman rho between R and the map
  of a copy of the network with random logits, and with every layer random. Passes: both < 0.5.
"""
import time
from dataclasses import dataclass, field

import torch

from .config import lecture_or_quick
from .grad_cam import grad_cam, guided_grad_cam
from .i18n import number, tr
from .images import gaussian_blur
from .samples import image_tensor
from .integrated_gradients import integrated_gradients
from .models import CourseModel, course_model
from .occlusion import occlusion_map
from .saliency import evaluating, method_title, saliency, saliency_map
from .sanity import randomised_copies, weight_groups

METHODS = ("gradient", "deconvnet", "guided", "smoothgrad", "occlusion", "grad_cam", "guided_grad_cam",
           "integrated_gradients")
# the object's box (left, top, right, bottom) as fractions of the photo, drawn by hand
BOXES = {"chelsea": (0.27, 0.22, 0.78, 0.90),      # the cat's face: eyes to nose
         "coffee": (0.28, 0.04, 0.71, 0.62),       # the cup of espresso
         "rocket": (0.47, 0.29, 0.54, 0.97)}       # the rocket on its pad


@dataclass
class CompareConfig:
    """Settings of the comparison (quick mode: tiny images, short curves).

    Lecture defaults cut for time (the cat: 126 s -> about 55 s on a busy machine): against 21 points, 64 IG
    steps and 16 SmoothGrad samples the areas move by 0.06 at most and every sanity verdict stays
    (measured on the cat, notebook 05b). The occlusion square stays 24/12: at 32/16 its map gets too
    coarse (deletion 0.20 -> 0.30)."""

    size: int = lecture_or_quick(160, 64)                  # long side of the photo, pixels
    points: int = lecture_or_quick(11, 5)                  # points on each curve (0 %, 10 %, ... 100 %)
    deletion_grey: float = 0.5                             # what deleted pixels become
    blur_sigma: float = 0.05                               # insertion starts from the photo blurred by this * size
    occlusion: dict = field(default_factory=lambda: {"window": lecture_or_quick(24, 16), "stride": lecture_or_quick(12, 8)})
    ig_steps: int = lecture_or_quick(32, 16)               # a map to rank pixels by, not a completeness check
    smoothgrad_samples: int = lecture_or_quick(8, 4)
    batch: int = 4                                         # images per forward pass of a curve (4: 1.4-1.9x faster than 16)
    sanity: bool = True                                    # the two randomised copies (costs two more maps)


def relevance(model, image, target, method: str, config: CompareConfig | None = None) -> torch.Tensor:
    """R [H, W] of ``method`` (one of ``METHODS``) for class ``target``; larger = more relevant."""
    model, config = course_model(model, "relevance"), config or CompareConfig()
    if method not in METHODS:
        raise ValueError(tr("unknown method {method}; choose one of {methods}", method=repr(method),
                            methods=", ".join(METHODS)))
    x01 = image_tensor(image, config.size).to(model.device)
    c = model.class_index(target)
    if method in ("gradient", "deconvnet", "guided", "smoothgrad"):
        averaging = dict(samples=config.smoothgrad_samples, shift=1, noise=0.15) if method == "smoothgrad" else {}
        rule = "gradient" if method == "smoothgrad" else method
        return saliency_map(saliency(model, model.to_input(x01), c, rule, **averaging))[0].cpu()
    if method == "occlusion":
        return occlusion_map(model, x01, c, **config.occlusion)
    if method == "grad_cam":
        return grad_cam(model, x01, c).cpu()
    if method == "guided_grad_cam":
        return saliency_map(guided_grad_cam(model, x01, c))[0].cpu()
    return integrated_gradients(model, x01, c, steps=config.ig_steps)[0].sum(dim=0).cpu()


def probabilities_of(network):
    """p(images in [0, 1]) -> [N, classes] for a course model, an object with ``.probabilities`` or a callable."""
    if isinstance(network, CourseModel):
        return lambda x01: network.net(network.to_input(x01)).softmax(dim=1)
    return getattr(network, "probabilities", network)


def curve_images(x01: torch.Tensor, R: torch.Tensor, kind: str, config: CompareConfig) -> torch.Tensor:
    """The images along a deletion or insertion curve: [points, 3, H, W]."""
    H, W = x01.shape[-2:]
    order = R.flatten().argsort(descending=True, stable=True)              # [H*W] most relevant first
    rank = torch.empty_like(order)
    rank[order] = torch.arange(H * W)                                       # rank of every pixel
    counts = torch.linspace(0, H * W, config.points).round().long()        # pixels changed at each point
    changed = (rank.view(1, 1, H, W) < counts.view(-1, 1, 1, 1)).to(x01)   # [points, 1, H, W]
    if kind == "deletion":
        return x01 * (1 - changed) + config.deletion_grey * changed
    sigma = max(config.blur_sigma * max(H, W), 0.5)
    blurred = gaussian_blur(x01, 2 * round(3 * sigma) + 1, sigma)
    return blurred * (1 - changed) + x01 * changed


def curve(network, x01: torch.Tensor, c: int, R: torch.Tensor, kind: str, config: CompareConfig) -> torch.Tensor:
    """p_c along the deletion or insertion curve of R, as seen by ``network``: [points]."""
    if kind not in ("deletion", "insertion"):
        raise ValueError(tr("kind must be 'deletion' or 'insertion', got {kind}", kind=repr(kind)))
    p = probabilities_of(network)
    images = curve_images(x01.cpu(), R, kind, config)
    with torch.inference_mode():
        return torch.cat([p(images[k:k + config.batch])[:, c].cpu() for k in range(0, len(images), config.batch)])


def area(values: torch.Tensor) -> float:
    """Area under a curve sampled at equal steps of the fraction 0..1 (trapezoid rule)."""
    return torch.trapezoid(values, dx=1 / (len(values) - 1)).item()


def energy_in_box(R: torch.Tensor, box) -> float:
    """Share of the positive relevance inside ``box`` (left, top, right, bottom as fractions of the image)."""
    H, W = R.shape
    left, top, right, bottom = box
    positive = R.clamp(min=0)
    inside = positive[round(top * H):round(bottom * H), round(left * W):round(right * W)].sum()
    return (inside / positive.sum().clamp_min(1e-30)).item()


def ranks(R: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n of the values of R, equal values sharing their mean rank (occlusion's blocks, Grad-CAM's zeros)."""
    _, which, counts = torch.unique(R.flatten().double(), return_inverse=True, return_counts=True)   # sorted values
    last = counts.cumsum(0).double()                                       # the rank of each value's last copy
    return (last - (counts - 1) / 2)[which]


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rho of two maps [H, W] (Pearson r of the ranks); 0 when a map is constant (no ranking)."""
    rho = torch.corrcoef(torch.stack([ranks(a), ranks(b)]))[0, 1].item()
    return 0.0 if rho != rho else rho


def compare(model, image, target=None, methods=METHODS, config: CompareConfig | None = None, judge=None, box=None) -> dict:
    """Every method's map and its numbers on one photo: {"maps": {m: R}, "curves": {...}, "rows": [...]}.

    ``target`` None: the network's top class on the photo at ``config.size``. ``judge``: a second network
    (a course model, or an object with ``probabilities(images)``). Each row: method, seconds for the map,
    deletion and insertion AUC (also by the judge), energy in ``box`` (default: ``BOXES`` for a sample
    name), rho with random logits and with every layer random, and whether it passes the sanity check.
    """
    model, config = course_model(model, "compare"), config or CompareConfig()
    x01 = image_tensor(image, config.size).to(model.device)
    if target is None:
        with torch.no_grad(), evaluating(model.net):
            target = model.net(model.to_input(x01)).argmax(dim=1).item()
    c = model.class_index(target)
    box = box or (BOXES[image] if isinstance(image, str) and image in BOXES else None)
    result = {"maps": {}, "curves": {}, "rows": [], "image": x01.cpu(), "box": box, "class": c}
    for method in methods:
        start = time.perf_counter()
        R = result["maps"][method] = relevance(model, x01, c, method, config)
        seconds = time.perf_counter() - start
        row = {"method": method, "seconds": seconds}
        with evaluating(model.net):
            for kind in ("deletion", "insertion"):
                values = result["curves"][method, kind] = curve(model, x01, c, R, kind, config)
                row[kind] = area(values)
                if judge is not None:
                    judged = result["curves"][method, kind, "judge"] = curve(judge, x01, c, R, kind, config)
                    row[f"judge {kind}"] = area(judged)
        row["energy in box"] = energy_in_box(R, box) if box else float("nan")
        result["rows"].append(row)
    if config.sanity:
        sanity_rows(model, x01, c, methods, config, result)
    return result


def sanity_rows(model, x01, c, methods, config, result) -> None:
    """Add rho (random logits) and rho (all random) to each row: the cascade's first and last step."""
    order = list(weight_groups(model, model.net))
    for step, destroyed in randomised_copies(model, [order[0], order[-1]]):
        key = "rho random logits" if step == order[0] else "rho all random"
        for row in result["rows"]:
            row[key] = rank_correlation(result["maps"][row["method"]], relevance(destroyed, x01, c, row["method"], config))
    for row in result["rows"]:
        row["passes sanity"] = row["rho random logits"] < 0.5 and row["rho all random"] < 0.5


# ---- the table and the plot ---------------------------------------------------------------

COLUMNS = ("deletion", "insertion", "judge deletion", "judge insertion", "energy in box", "rho random logits",
           "rho all random", "seconds")


def table(rows) -> str:
    """The rows as a text table, best deletion AUC first (what the notebook prints)."""
    columns = [k for k in COLUMNS if any(k in row for row in rows)]
    lines = [f"{tr('method'):<26}" + "".join(f"{tr(k):>20}" for k in columns) + f"{tr('sanity check'):>16}"]
    for row in sorted(rows, key=lambda r: r["deletion"]):
        passed = row.get("passes sanity")
        verdict = "" if passed is None else tr("passes") if passed else tr("fails")
        lines.append(f"{method_title(row['method']):<26}"
                     + "".join(f"{number(row.get(k, float('nan')), '.3f'):>20}" for k in columns) + f"{verdict:>16}")
    return "\n".join(lines)


def plot(result):
    """Deletion and insertion curves of every method, side by side; returns the figure."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for (method, k, *judged), values in result["curves"].items():
            if k == kind and not judged:
                ax.plot(torch.linspace(0, 100, len(values)), values,
                        label=f"{method_title(method)} ({number(area(values), '.2f')})")
        ax.set_xlabel(tr("% of the pixels deleted") if kind == "deletion" else tr("% of the pixels inserted"))
        ax.set_title(tr("deletion: low is faithful") if kind == "deletion" else tr("insertion: high is faithful"))
        ax.legend(fontsize=7)
    axes[0].set_ylabel(tr("probability of the class"))
    fig.tight_layout()
    return fig
