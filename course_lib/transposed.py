"""Convolution as a matrix, and its transpose (slide "Deconvolutional networks #3 Deconvolution").

A convolution is linear, so it is a matrix C: y = conv2d(x) is ``y.flatten() == C @ x.flatten()``.
The deconvnet's "deconvolution" (slide formula (1), ŷ^c = Σ_k z_k * f_k^c) is the same
filters used backwards: ŷ = Cᵀ y. For the slide's example (3x3 kernel w_{i,j}, 4x4 input,
2x2 output) C is 4x16 and Cᵀ is the sparse 16x4 matrix drawn on the slide.
Cᵀ y is what ``F.conv_transpose2d`` computes and what autograd gives as the gradient of the
convolution.

When the kernel size is not divisible by the stride, Cᵀ covers some output pixels more often
than others: the checkerboard artifacts of Odena, Dumoulin & Olah, "Deconvolution and
Checkerboard Artifacts" (Distill 2016). Resize-then-convolve covers every pixel evenly.

References: Zeiler, Taylor & Fergus, "Adaptive deconvolutional networks" (ICCV 2011);
Dumoulin & Visin, "A guide to convolution arithmetic for deep learning" (2016).
"""
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from .config import lecture_or_quick
from .i18n import tr


@dataclass
class TransposedConfig:
    kernel_size: int = 3                                     # the slide's example: 3x3 kernel w_{i,j},
    stride: int = 1                                          # stride 1, no padding,
    padding: int = 0
    input_size: int = 4                                      # 4x4 input -> 2x2 output, Cᵀ is 16x4
    photo_size: int = lecture_or_quick(256, 96)              # long side of the checkerboard photo


def output_size(size: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - k) // stride + 1


def check_geometry(input_size, k_h, k_w, stride, padding):
    H, W = input_size
    if min(H, W, k_h, k_w, stride) < 1 or padding < 0:
        raise ValueError(tr("sizes, kernel and stride must be >= 1 and padding >= 0; got input {H}x{W}, "
                            "kernel {k_h}x{k_w}, stride {stride}, padding {padding}",
                            H=H, W=W, k_h=k_h, k_w=k_w, stride=stride, padding=padding))
    if output_size(H, k_h, stride, padding) < 1 or output_size(W, k_w, stride, padding) < 1:
        raise ValueError(tr("a {k_h}x{k_w} kernel does not fit a {H}x{W} input with padding {padding}: "
                            "make the kernel smaller or the padding larger", k_h=k_h, k_w=k_w, H=H, W=W, padding=padding))


def _entries(weight, input_size, stride, padding):
    """Row, column and value of every non-zero entry of C (one per weight and output position)."""
    C_out, C_in, k_h, k_w = weight.shape
    H, W = input_size
    check_geometry(input_size, k_h, k_w, stride, padding)
    H_out, W_out = output_size(H, k_h, stride, padding), output_size(W, k_w, stride, padding)
    o, c, a, b, i, j = torch.meshgrid(*(torch.arange(n) for n in (C_out, C_in, k_h, k_w, H_out, W_out)), indexing="ij")
    r, q = i * stride - padding + a, j * stride - padding + b     # input pixel under w_{a,b} for output (i, j)
    inside = (r >= 0) & (r < H) & (q >= 0) & (q < W)              # padded zeros contribute nothing
    rows = ((o * H_out + i) * W_out + j)[inside]                  # index into y.flatten(), [C_out*H_out*W_out]
    cols = ((c * H + r) * W + q)[inside]                          # index into x.flatten(), [C_in*H*W]
    values = weight[:, :, :, :, None, None].expand(o.shape)[inside]
    return rows, cols, values, (C_out * H_out * W_out, C_in * H * W)


def conv_matrix(weight: torch.Tensor, input_size, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """Dense C [C_out*H_out*W_out, C_in*H*W] with ``conv2d(x).flatten() == C @ x.flatten()`` (slide: Deconvolutional networks #3).

    ``weight`` is [C_out, C_in, k_h, k_w] as in ``nn.Conv2d``; ``input_size`` is (H, W).
    """
    rows, cols, values, shape = _entries(weight, input_size, stride, padding)
    C = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
    return C.index_put_((rows, cols), values, accumulate=True)


def conv_matrix_sparse(weight: torch.Tensor, input_size, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """The same C as a sparse COO tensor: only the k_h*k_w*C_in entries per row are stored."""
    rows, cols, values, shape = _entries(weight, input_size, stride, padding)
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), values, shape, check_invariants=True).coalesce()


def output_padding(input_size, kernel_size, stride: int = 1, padding: int = 0):
    """The ``output_padding`` that makes ``conv_transpose2d`` return exactly ``input_size``."""
    return tuple((n + 2 * padding - k) % stride for n, k in zip(input_size, kernel_size))


def transposed_conv(y: torch.Tensor, weight: torch.Tensor, input_size, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """ŷ = Cᵀ y for one map y [C_out, H_out, W_out] -> [C_in, H, W] (slide formula (1))."""
    C = conv_matrix(weight, input_size, stride, padding)          # [C_out*H_out*W_out, C_in*H*W]
    return (C.T @ y.flatten()).view(weight.shape[1], *input_size)


def deconvolve(z: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Slide formula (1), ŷ^c = Σ_k z_k * f_k^c with * the full 2-D convolution (stride 1, no padding).

    z [K, H', W'] feature maps, f [K, C, k_h, k_w] the layer's filters -> ŷ [C, H' + k_h - 1, W' + k_w - 1]."""
    K, C, k_h, k_w = f.shape
    if z.dim() != 3 or z.shape[0] != K:
        raise ValueError(tr("z must be [K, H', W'] with K = {K} maps (one per filter), got shape {shape}", K=K, shape=list(z.shape)))
    z = F.pad(z, [k_w - 1, k_w - 1, k_h - 1, k_h - 1])                  # full convolution: pad by k - 1
    y_hat = torch.zeros(C, z.shape[1] - k_h + 1, z.shape[2] - k_w + 1, dtype=z.dtype)
    for c in range(C):
        for k in range(K):
            y_hat[c] += F.conv2d(z[k][None, None], f[k, c].flip(-2, -1)[None, None])[0, 0]   # z_k * f_k^c
    return y_hat


def symbolic_matrix(kernel_size: int = 3, input_size=(4, 4), stride: int = 1, padding: int = 0) -> list:
    """Cᵀ of a one-channel conv as strings: 'w_{i,j}' or '0' (the slide's 16x4 table for the defaults)."""
    k = kernel_size
    labels = torch.arange(1, k * k + 1, dtype=torch.float64).view(1, 1, k, k)   # w_{a,b} -> a*k + b + 1
    C_T = conv_matrix(labels, input_size, stride, padding).T.long()
    return [[f"w_{{{(v - 1) // k},{(v - 1) % k}}}" if v else "0" for v in row.tolist()] for row in C_T]


def show_conv_matrix(weight: torch.Tensor, input_size=(4, 4), stride: int = 1, padding: int = 0, max_table_rows: int = 36):
    """C as a heat map, Cᵀ as a labelled table of w_{i,j} (when small enough) and as a heat map."""
    weight = weight.detach().cpu()
    if weight.dim() == 2:
        weight = weight[None, None]                               # [k, k] -> [1, 1, k, k]
    C = conv_matrix(weight, input_size, stride, padding)          # [C_out*H_out*W_out, C_in*H*W]
    square_single = weight.shape[:2] == (1, 1) and weight.shape[-1] == weight.shape[-2]
    small = square_single and C.shape[1] <= max_table_rows and C.shape[0] <= 16
    ncols = 3 if small else 2
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols, 6), gridspec_kw={"width_ratios": [1.6, 1, 1][:ncols]})
    lim = C.abs().max().item() or 1.0
    axes[0].imshow(C.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[0].set_title(f"C  {C.shape[0]}x{C.shape[1]}  (y = C x)")
    axes[0].set_xlabel(tr("input pixel x_m")), axes[0].set_ylabel(tr("output pixel y_n"))
    if small:
        table = symbolic_matrix(weight.shape[-1], input_size, stride, padding)
        ax = axes[1]
        ax.axis("off")
        cells = [[f"${e}$" if e != "0" else "0" for e in row] for row in table]
        t = ax.table(cellText=cells, rowLabels=[f"$x_{{{m}}}$" for m in range(len(cells))],
                     colLabels=[f"$y_{{{n}}}$" for n in range(len(cells[0]))], loc="center", cellLoc="center")
        t.auto_set_font_size(False), t.set_fontsize(8), t.scale(1, 1.05)
        ax.set_title(tr("Cᵀ  {rows}x{cols}  (symbolic)", rows=len(cells), cols=len(cells[0])))
    ax = axes[-1]
    ax.imshow(C.T.numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"Cᵀ  {C.shape[1]}x{C.shape[0]}  (ŷ = Cᵀ y)")
    ax.set_xlabel(tr("output pixel y_n")), ax.set_ylabel(tr("input pixel x_m"))
    fig.tight_layout()
    return fig


# ---- checkerboard artifacts (Odena et al. 2016) ------------------------------------------

def _check_upsample(x, kernel_size, stride):
    if x.dim() != 4:
        raise ValueError(tr("expected images [N, C, H, W], got shape {shape}", shape=list(x.shape)))
    if kernel_size < 1 or stride < 1:
        raise ValueError(tr("kernel size and stride must be >= 1, got {k} and {s}", k=kernel_size, s=stride))


def upsample_transposed(x: torch.Tensor, kernel_size: int = 3, stride: int = 2) -> torch.Tensor:
    """[N, C, H, W] -> stride-s transposed conv with a uniform k x k kernel on every channel (Odena et al. 2016)."""
    _check_upsample(x, kernel_size, stride)
    N, C = x.shape[:2]
    k, s = kernel_size, stride
    f = torch.full((C, 1, k, k), (s / k) ** 2, dtype=x.dtype)     # mean contribution 1 per output pixel
    return F.conv_transpose2d(x, f, stride=s, groups=C)           # [N, C, (H-1)s + k, (W-1)s + k]


def upsample_resize_conv(x: torch.Tensor, kernel_size: int = 3, stride: int = 2) -> torch.Tensor:
    """[N, C, H, W] -> nearest-neighbour resize by s, then a uniform k x k conv: Odena et al.'s fix."""
    _check_upsample(x, kernel_size, stride)
    N, C = x.shape[:2]
    k = kernel_size
    up = F.interpolate(x, scale_factor=stride, mode="nearest")    # [N, C, sH, sW]
    f = torch.full((C, 1, k, k), 1 / k**2, dtype=x.dtype)
    return F.conv2d(F.pad(up, [k // 2, (k - 1) // 2] * 2, mode="replicate"), f, groups=C)   # [N, C, sH, sW]


def checkerboard_strength(y: torch.Tensor, border: int = 3) -> float:
    """Relative spread (std / mean) of the interior of an upsampled constant image: 0 = no artifacts."""
    inner = y[..., border:-border, border:-border]
    return (inner.std() / inner.mean().abs().clamp_min(1e-12)).item()


def show_checkerboard(photo: torch.Tensor, kernel_size: int = 3, stride: int = 2, crop: int = 24):
    """Constant input and a photo [1, 3, H, W], upsampled both ways; bottom row zooms into a corner."""
    ones = torch.ones(1, 1, 8, 8)
    rows = [(upsample_transposed, tr("transposed conv")), (upsample_resize_conv, tr("resize + conv"))]
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.5))
    for (up, name), ax in zip(rows, axes):                        # one row per method
        flat = up(ones, kernel_size, stride)[0, 0]
        ax[0].imshow(flat.numpy(), cmap="gray", vmin=0, vmax=max(flat.max().item(), 2.0))   # mean 1: mid-grey
        ax[0].set_title(tr("{name}: constant input\nspread {spread:.2f}", name=name, spread=checkerboard_strength(flat)))
        big = up(photo, kernel_size, stride).clamp(0, 1)[0]
        ax[1].imshow(big.permute(1, 2, 0).numpy())
        ax[1].set_title(tr("{name}: photo {shape}", name=name, shape=tuple(big.shape[1:])))
        ax[2].imshow(big[:, :crop, :crop].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax[2].set_title(tr("{name}: top-left {crop}x{crop} px", name=name, crop=crop))
    for ax in axes.flat:
        ax.axis("off")
    overlap = (tr("upsampling x{s} with a {k}x{k} kernel (uneven overlap: k mod s = {rest})") if kernel_size % stride
               else tr("upsampling x{s} with a {k}x{k} kernel (even overlap: k mod s = {rest})"))
    fig.suptitle(overlap.format(s=stride, k=kernel_size, rest=kernel_size % stride))
    fig.tight_layout()
    return fig
