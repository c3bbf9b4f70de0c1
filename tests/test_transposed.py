import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_lib.transposed import (  # noqa: E402
    checkerboard_strength, conv_matrix, conv_matrix_sparse, deconvolve, output_padding, show_checkerboard,
    show_conv_matrix, symbolic_matrix, transposed_conv, upsample_resize_conv, upsample_transposed,
)


def random_case(seed):
    """A seeded random conv geometry: channels, non-square kernel, stride, padding, input size."""
    g = torch.Generator().manual_seed(seed)
    r = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))  # noqa: E731
    C_in, C_out, k_h, k_w, s, p = r(1, 3), r(1, 3), r(1, 4), r(1, 4), r(1, 3), r(0, 2)
    H, W = r(max(k_h - 2 * p, 1), 9), r(max(k_w - 2 * p, 1), 9)
    weight = torch.randn(C_out, C_in, k_h, k_w, generator=g, dtype=torch.float64)
    x = torch.randn(1, C_in, H, W, generator=g, dtype=torch.float64)
    return weight, x, s, p


@pytest.mark.parametrize("seed", range(40))
def test_conv_matrix_is_conv2d_and_its_transpose_is_conv_transpose2d_and_the_gradient(seed):
    weight, x, s, p = random_case(seed)
    H, W = x.shape[-2:]
    C = conv_matrix(weight, (H, W), stride=s, padding=p)
    y = F.conv2d(x, weight, stride=s, padding=p)
    assert C.shape == (y.numel(), x.numel())
    torch.testing.assert_close(C @ x.flatten(), y.flatten(), atol=1e-6, rtol=0)   # y = C x

    z = torch.randn_like(y)
    pad = output_padding((H, W), weight.shape[-2:], s, p)
    reference = F.conv_transpose2d(z, weight, stride=s, padding=p, output_padding=pad)
    assert reference.shape == x.shape
    torch.testing.assert_close(C.T @ z.flatten(), reference.flatten(), atol=1e-6, rtol=0)   # ŷ = Cᵀ z

    x_var = x.clone().requires_grad_(True)
    (F.conv2d(x_var, weight, stride=s, padding=p) * z).sum().backward()
    torch.testing.assert_close(C.T @ z.flatten(), x_var.grad.flatten(), atol=1e-6, rtol=0)  # Cᵀ = d(Cx)/dx ᵀ
    torch.testing.assert_close(transposed_conv(z[0], weight, (H, W), s, p), reference[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(conv_matrix_sparse(weight, (H, W), s, p).to_dense(), C)


@pytest.mark.parametrize("seed", range(5))
def test_slide_formula_1_sum_of_full_convolutions_is_c_transpose(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)          # K = 3 feature maps z_k
    f = torch.randn(3, 2, 3, 2, generator=g, dtype=torch.float64)       # filters f_k^c, C = 2 channels
    y_hat = deconvolve(z, f)                                             # ŷ^c = Σ_k z_k * f_k^c
    assert y_hat.shape == (2, 6, 6)
    torch.testing.assert_close(y_hat.flatten(), conv_matrix(f, (6, 6)).T @ z.flatten(), atol=1e-6, rtol=0)
    torch.testing.assert_close(y_hat, F.conv_transpose2d(z[None], f)[0], atol=1e-6, rtol=0)


def test_hand_checked_2x2_kernel_on_3x3_input():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    C = conv_matrix(w, (3, 3))
    expected = torch.tensor([
        [1, 2, 0, 3, 4, 0, 0, 0, 0],
        [0, 1, 2, 0, 3, 4, 0, 0, 0],
        [0, 0, 0, 1, 2, 0, 3, 4, 0],
        [0, 0, 0, 0, 1, 2, 0, 3, 4],
    ], dtype=torch.float32)
    assert torch.equal(C, expected)
    assert torch.equal(conv_matrix(w, (3, 3), stride=2, padding=1)[0], torch.tensor([4.0, 0, 0, 0, 0, 0, 0, 0, 0]))


def test_slide_example_is_16x4_with_w_entries():
    table = symbolic_matrix(3, (4, 4))
    assert len(table) == 16 and all(len(row) == 4 for row in table)
    column = lambda n: [row[n] for row in table]  # noqa: E731
    # y_0 and y_1 as on the slide
    assert column(0) == ["w_{0,0}", "w_{0,1}", "w_{0,2}", "0", "w_{1,0}", "w_{1,1}", "w_{1,2}", "0",
                         "w_{2,0}", "w_{2,1}", "w_{2,2}", "0", "0", "0", "0", "0"]
    assert column(1) == ["0"] + column(0)[:-1]
    # y_2 sits at output row 1, so its window starts at x_4 (the slide shows it two rows higher)
    assert column(2) == ["0"] * 4 + column(0)[:-4]
    assert column(3) == ["0"] * 5 + column(0)[:-5]
    assert sum(e != "0" for row in table for e in row) == 4 * 9


def test_show_conv_matrix_table_only_when_small():
    fig = show_conv_matrix(torch.randn(3, 3), (4, 4))
    assert len(fig.axes) == 3                                  # C, symbolic Cᵀ, numeric Cᵀ
    plt.close(fig)
    fig = show_conv_matrix(torch.randn(3, 3), (12, 12), stride=2, padding=1)
    assert len(fig.axes) == 2
    plt.close(fig)


def test_bad_geometry_is_a_readable_error():
    with pytest.raises(ValueError, match="does not fit"):
        conv_matrix(torch.randn(1, 1, 5, 5), (3, 3))
    with pytest.raises(ValueError, match="stride"):
        conv_matrix(torch.randn(1, 1, 3, 3), (4, 4), stride=0)
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        upsample_transposed(torch.ones(4, 4))
    with pytest.raises(ValueError, match="K = 2 maps"):
        deconvolve(torch.ones(3, 4, 4), torch.ones(2, 1, 3, 3))


def test_checkerboard_only_when_kernel_not_divisible_by_stride():
    ones = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    uneven = upsample_transposed(ones, 3, 2)
    assert uneven.shape[-2:] == (17, 17)                       # (H - 1) s + k
    assert uneven[0, 0, 3, 3:7].tolist() == pytest.approx([4 / 9, 8 / 9, 4 / 9, 8 / 9])   # overlap 1, 2, 1, 2 ...
    assert checkerboard_strength(uneven) > 0.3
    assert checkerboard_strength(upsample_transposed(ones, 4, 2)) < 1e-9       # k divisible by s: even overlap
    resized = upsample_resize_conv(ones, 3, 2)
    assert resized.shape[-2:] == (16, 16)
    torch.testing.assert_close(resized, torch.ones_like(resized))


def test_show_checkerboard_shows_both_upsamplings_of_the_constant_and_the_photo():
    photo = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    ones = torch.ones(1, 1, 8, 8)
    fig = show_checkerboard(photo, 3, 2, crop=10)
    shown = [torch.as_tensor(ax.images[0].get_array().data) for ax in fig.axes]   # rows: transposed, resize + conv
    plt.close(fig)
    assert len(shown) == 6
    for row, up in enumerate((upsample_transposed, upsample_resize_conv)):
        big = up(photo, 3, 2).clamp(0, 1)[0].permute(1, 2, 0)                     # [H', W', 3]
        torch.testing.assert_close(shown[3 * row], up(ones, 3, 2)[0, 0])
        torch.testing.assert_close(shown[3 * row + 1], big)
        torch.testing.assert_close(shown[3 * row + 2], big[:10, :10])
