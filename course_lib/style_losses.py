"""The slide's losses of A Neural Algorithm of Artistic Style (slides "Artistic Style #2, #5, #7").

Gatys, Ecker, Bethge, "A Neural Algorithm of Artistic Style", arXiv:1508.06576 (2015).

F^l [N_l, M_l]: the N_l filter responses of layer l at M_l positions for the generated
image x; C^l the same for the content image c, A^l the Gram matrix of the style image a.

    content (slide #2):  L_content = sum_l w_l sum_ij 1/2 (F^l_ij - C^l_ij)^2
    style   (slide #5):  G^l_ij = sum_k F^l_ik F^l_jk
                         E_l = 1/(4 N_l^2 M_l^2) sum_ij (G^l_ij - A^l_ij)^2,  L_style = sum_l w_l E_l
    eq. (2):             dE_l/dF^l_ij = 1/(N_l^2 M_l^2) ((F^l)^T (G^l - A^l))_ji  if F^l_ij > 0, else 0

plus the total variation prior ``tv_loss``. ``style.transfer`` optimises an image for their sum;
autograd finds its gradient, ``style_layer_grad`` writes eq. (2) out and the tests check they agree.
"""
import torch

from .i18n import tr


def _as_matrices(F: torch.Tensor) -> torch.Tensor:
    """[N_l, M_l] and [B, N_l, M_l] stay; [B, N_l, H, W] -> [B, N_l, M_l] with M_l = H*W."""
    if F.dim() in (2, 3):
        return F
    if F.dim() == 4:
        return F.flatten(2)  # [B, N_l, M_l]
    raise ValueError(tr("expected features [N_l, M_l] or [B, N_l, H, W], got shape {shape}", shape=list(F.shape)))


def gram_matrix(F: torch.Tensor) -> torch.Tensor:
    """G = F F^T, no normalisation: [N_l, M_l] -> [N_l, N_l], [B, N_l, H, W] -> [B, N_l, N_l] (slide: Artistic Style #5)."""
    F = _as_matrices(F)
    return F @ F.transpose(-1, -2)  # G_ij = sum_k F_ik F_jk


def style_layer_loss(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """E_l = 1/(4 N_l^2 M_l^2) sum_ij (G_ij - A_ij)^2, summed over a batch (slide: Artistic Style #5)."""
    F = _as_matrices(F)
    N_l, M_l = F.shape[-2], F.shape[-1]
    G = gram_matrix(F)  # [N_l, N_l] or [B, N_l, N_l]
    return ((G - A) ** 2).sum() / (4 * N_l**2 * M_l**2)


def style_layer_grad(F: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Eq. (2): dE_l/dF = 1/(N_l^2 M_l^2) ((F^T (G - A))^T) where F > 0, else 0; F [N_l, M_l] (slide: Artistic Style #5)."""
    if F.dim() != 2:
        raise ValueError(tr("eq. (2) is written for one matrix F [N_l, M_l], got shape {shape}", shape=list(F.shape)))
    N_l, M_l = F.shape
    G = gram_matrix(F)                             # [N_l, N_l]
    grad = (F.T @ (G - A)).T / (N_l**2 * M_l**2)   # [N_l, M_l]
    return grad * (F > 0)


def content_layer_loss(F: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """sum_ij 1/2 (F_ij - C_ij)^2 for one layer (slide: Artistic Style #2)."""
    return 0.5 * ((F - C) ** 2).sum()


def content_loss(features: dict, targets: dict, weights: dict) -> torch.Tensor:
    """L_content = sum_l w_l sum_ij 1/2 (F^l_ij - C^l_ij)^2 over the layers in ``weights`` (slide: Artistic Style #2)."""
    return sum(w * content_layer_loss(features[l], targets[l]) for l, w in weights.items())


def style_loss(features: dict, grams: dict, weights: dict) -> torch.Tensor:
    """L_style = sum_l w_l E_l over the layers in ``weights``; ``grams`` holds A^l (slide: Artistic Style #5)."""
    return sum(w * style_layer_loss(features[l], grams[l]) for l, w in weights.items())


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Total variation of an image batch [B, 3, H, W]: the sum of SQUARED neighbour differences.

    Not on the slides (a common smoothness prior, Mahendran & Vedaldi 2015): sum over
    pixels of (x[i+1, j] - x[i, j])^2 + (x[i, j+1] - x[i, j])^2.
    """
    if x.dim() != 4:
        raise ValueError(tr("expected an image batch [B, 3, H, W], got shape {shape}", shape=list(x.shape)))
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]  # [B, 3, H-1, W]
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]  # [B, 3, H, W-1]
    return (dy**2).sum() + (dx**2).sum()
