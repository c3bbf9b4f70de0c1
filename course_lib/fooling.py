"""Fooling the network: the smallest change that turns the cat into a class of your choice (notebook 05b).

Szegedy et al., "Intriguing properties of neural networks" (2013): an imperceptible change flips the
class. Goodfellow, Shlens & Szegedy, "Explaining and Harnessing Adversarial Examples" (2015): one
step along the sign of the gradient (FGSM). Madry et al. (2018): several projected steps (PGD).
Targeted at class t, inside the L-infinity ball of radius eps around the image x:

    FGSM:  x' = clip(x - eps * sign(grad_x CE(S(x), t)))                      (one step)
    PGD:   x_{k+1} = P( x_k - a * sign(grad CE(S(x_k), t)) ),  a = 2.5 eps / steps
           P: back into |x' - x|_inf <= eps and into [0, 1]

The result is rounded to 8 bits, so it can be saved as a PNG and stays a fooling image; with eps a
multiple of 1/255 the rounding keeps it inside the ball. Nguyen, Yosinski & Clune (2015) give the
other half of the story: images the network is sure of that show nothing (notebook 04's class models).
"""
import torch
import torch.nn.functional as F

from .config import lecture_or_quick
from .i18n import tr
from .samples import image_tensor
from .models import CLASSIFY_SIZE, course_model
from .saliency import evaluating

EPSILONS = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
STEPS = lecture_or_quick(10, 5)      # PGD steps (1: FGSM)


def fool(model, image, target, epsilon: float = 8 / 255, steps: int = STEPS, size: int = CLASSIFY_SIZE) -> torch.Tensor:
    """A targeted adversarial example: [1, 3, H, W] in [0, 1], |x' - x|_inf <= epsilon, 8-bit values.

    ``steps`` = 1 is FGSM (Goodfellow et al.), more is projected gradient descent (Madry et al.).
    """
    model = course_model(model, "fool")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon <= 1:
        raise ValueError(tr("epsilon is the largest change of a pixel, in (0, 1] (8/255 is barely visible), "
                            "got {value}", value=repr(epsilon)))
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(tr("steps must be a whole number >= 1, got {value}", value=repr(steps)))
    x = image_tensor(image, size).to(model.device)
    t = torch.tensor([model.class_index(target)], device=x.device)
    a = epsilon if steps == 1 else 2.5 * epsilon / steps
    x_adv = x.clone()
    with evaluating(model.net), torch.enable_grad():
        for _ in range(steps):
            X = x_adv.requires_grad_(True)
            loss = F.cross_entropy(model.net(model.to_input(X)), t)
            (g,) = torch.autograd.grad(loss, X)
            x_adv = (X.detach() - a * g.sign())
            x_adv = torch.min(torch.max(x_adv, x - epsilon), x + epsilon).clamp(0, 1)   # P: the ball, then [0, 1]
    return torch.min(torch.max((x_adv * 255).round() / 255, x - epsilon), x + epsilon)


def top_class(model, x01: torch.Tensor) -> tuple:
    """(class index, its probability) of the network's top guess for [1, 3, H, W] in [0, 1]."""
    with torch.no_grad(), evaluating(model.net):
        p = model.net(model.to_input(x01)).softmax(dim=1)[0]
    return p.argmax().item(), p.max().item()


def smallest_fooling(model, image, target, epsilons=EPSILONS, steps: int = STEPS, size: int = CLASSIFY_SIZE) -> dict:
    """The first epsilon of ``epsilons`` whose fooling image the network calls ``target``.

    Returns {"epsilon": eps or None, "image": x' (of the last epsilon tried), "class": its top-1, "probability"}.
    """
    model = course_model(model, "smallest_fooling")
    x = image_tensor(image, size)
    t = model.class_index(target)
    for epsilon in epsilons:
        x_adv = fool(model, x, t, epsilon, steps)
        c, p = top_class(model, x_adv)
        if c == t:
            return {"epsilon": epsilon, "image": x_adv, "class": c, "probability": p}
    return {"epsilon": None, "image": x_adv, "class": c, "probability": p}
