"""The Hubel & Wiesel experiment, done on a network (slide "Модель Hubel & Weisel").

Hubel & Wiesel, "Receptive fields of single neurones in the cat's striate cortex" (J. Physiol.
1959) and "Receptive fields, binocular interaction and functional architecture" (1962), showed
a cat oriented bars of light and recorded single cells: each cell fires for one orientation
(orientation tuning); "simple" cells only when the bar is at one place of the receptive field,
"complex" cells wherever it is. Here the cell is a unit of a layer: channel c at the centre of
the feature map; its response is the change from a blank (black) screen, rectified like a
firing rate: R = max(F^l_c(stimulus) - F^l_c(blank), 0).

    orientation selectivity index  OSI = (R_pref - R_orth) / (R_pref + R_orth)

with R_orth the response 90° away from the preferred orientation (0: untuned, 1: fires for one
orientation only): n_angles // 2 steps of 180°/n_angles away. For an odd n_angles no angle lies at
90°; the two nearest are equally near (90° -+ 90°/n), and we take the one just under 90°. Stimuli: bars and sinusoidal gratings in [0, 1]; orientation θ is counted
anticlockwise from horizontal, positions in pixels from the image centre, across the bar.
"""
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from .config import lecture_or_quick
from .models import CourseModel, check_name
from .i18n import tr, trn


@dataclass
class HubelWieselConfig:
    size: int = lecture_or_quick(96, 64)           # stimulus side, pixels
    n_angles: int = lecture_or_quick(36, 12)       # orientations evenly spaced in [0, 180)
    n_positions: int = lecture_or_quick(8, 4)      # bar positions per orientation (the tuning sweep)
    position_range: float = 6.0                    # tuning sweep positions in [-r, r] px
    profile_range: float = lecture_or_quick(24.0, 16.0)   # simple vs complex: positions in [-r, r] px
    profile_points: int = lecture_or_quick(49, 25)          # positions in that range
    profile_units: int = lecture_or_quick(3, 2)            # most selective units per layer shown
    bar_width: float = 3.0
    batch: int = 96


def _across(size: int, angle_deg: float) -> torch.Tensor:
    """Signed distance [size, size] of every pixel from the line through the centre at angle θ."""
    c = (size - 1) / 2
    y, x = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    theta = math.radians(angle_deg)
    return -x * math.sin(theta) - y * math.cos(theta)          # (u, v) = (x, -y): normal (-sin θ, cos θ)


def _check_size(size) -> int:
    if int(size) < 2:
        raise ValueError(tr("a stimulus needs at least 2x2 pixels, got size {size}", size=size))
    return int(size)


def oriented_grating(size: int, angle_deg: float, frequency: float, phase: float = 0.0) -> torch.Tensor:
    """Sinusoidal grating [3, size, size] in [0, 1], stripes at angle θ, ``frequency`` cycles per image.

    (slide: Модель Hubel & Weisel)"""
    size = _check_size(size)
    g = 0.5 + 0.5 * torch.cos(2 * math.pi * frequency * _across(size, angle_deg) / size + phase)
    return g.expand(3, size, size).clone()


def oriented_bar(size: int, angle_deg: float, position: float = 0.0, width: float = 3.0) -> torch.Tensor:
    """A white bar [3, size, size] on black at angle θ, ``position`` px from the centre (slide: Модель Hubel & Weisel)."""
    size = _check_size(size)
    if width <= 0:
        raise ValueError(tr("bar width must be positive, got {width}", width=width))
    bar = (width / 2 + 0.5 - (_across(size, angle_deg) - position).abs()).clamp(0, 1)
    return bar.expand(3, size, size).clone()


def angles(n: int) -> torch.Tensor:
    """n orientations evenly spaced in [0, 180) degrees."""
    return torch.arange(n) * 180.0 / n


def orientation_selectivity_index(tuning: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """OSI = (R_pref - R_orth) / (R_pref + R_orth + eps) of tuning curves [..., n_angles] over [0, 180) -> [...].

    (slide: Модель Hubel & Weisel; the index of orientation tuning used since Hubel & Wiesel.)"""
    n = tuning.shape[-1]
    pref = tuning.argmax(dim=-1, keepdim=True)                   # [..., 1]
    orth = (pref + n // 2) % n                                   # 90° away; odd n: the angle just under 90°
    R_pref, R_orth = tuning.gather(-1, pref)[..., 0], tuning.gather(-1, orth)[..., 0]
    return (R_pref - R_orth) / (R_pref + R_orth + eps)


@torch.no_grad()
def unit_responses(model: CourseModel, stimuli: torch.Tensor, layer: str, batch: int = 96) -> torch.Tensor:
    """Responses R [N, C_l] of the centre units of ``layer`` to stimuli [N, 3, S, S] in [0, 1].

    (slide: Модель Hubel & Weisel)"""
    check_name("layer", layer, model.layers)
    if stimuli.dim() != 4 or stimuli.shape[1] != 3:
        raise ValueError(tr("stimuli must be [N, 3, S, S], got shape {shape}", shape=list(stimuli.shape)))
    blank = torch.zeros_like(stimuli[:1])
    out = []
    for chunk in torch.cat([blank, stimuli]).split(batch):
        F_l = model.features(model.to_input(chunk), [layer])[layer]   # [n, C_l, H_l, W_l] or [n, C_l]
        if F_l.dim() == 4:
            F_l = F_l[:, :, F_l.shape[2] // 2, F_l.shape[3] // 2]      # the unit at the centre, [n, C_l]
        out.append(F_l.cpu())
    F_c = torch.cat(out)                                               # [1 + N, C_l]
    return (F_c[1:] - F_c[:1]).clamp_min(0)


class HubelWieselExperiment:
    """The cat experiment on a network: bars swept over angle and position (slide: Модель Hubel & Weisel).

    Sweeps (per layer) and position profiles are cached, so widget sliders only run one stimulus."""

    def __init__(self, model: CourseModel, config: HubelWieselConfig | None = None):
        self.model, self.cfg = model, config or HubelWieselConfig()
        self.angles = angles(self.cfg.n_angles)                                  # [n_angles]
        r = self.cfg.position_range
        self.positions = torch.linspace(-r, r, self.cfg.n_positions)             # [n_positions]
        self._sweeps, self._profiles = {}, {}

    def bars(self, angles_deg, positions) -> torch.Tensor:
        """Every (angle, position) bar: [len(angles) * len(positions), 3, S, S]."""
        return torch.stack([oriented_bar(self.cfg.size, float(a), float(p), self.cfg.bar_width)
                            for a in angles_deg for p in positions])

    def sweep(self, layer: str) -> torch.Tensor:
        """Responses [n_angles, n_positions, C_l] of the centre units to every bar (cached)."""
        if layer not in self._sweeps:
            R = unit_responses(self.model, self.bars(self.angles, self.positions), layer, self.cfg.batch)
            self._sweeps[layer] = R.view(len(self.angles), len(self.positions), -1)
        return self._sweeps[layer]

    def tuning(self, layer: str) -> torch.Tensor:
        """Orientation tuning curves [C_l, n_angles]: the best response over positions at each angle."""
        return self.sweep(layer).amax(dim=1).T

    def n_channels(self, layer: str) -> int:
        return self.sweep(layer).shape[-1]

    def check_channel(self, layer: str, channel: int) -> int:
        n = self.n_channels(layer)
        if not 0 <= int(channel) < n:
            raise ValueError(trn("channel {channel} is out of range: layer {layer!r} has {n} channel, 0..{last}",
                                 "channel {channel} is out of range: layer {layer!r} has {n} channels, 0..{last}",
                                 n, channel=channel, layer=layer, last=n - 1))
        return int(channel)

    def saturated(self, layer: str) -> list:
        """Units whose best response is reached exactly at two or more angles: a ReLU6 clipped at its ceiling.

        Clipped, R_pref and R_orth both stop at the same 6, and their ratio (the OSI) says nothing about the
        unit's orientation (the stem's units 21 and 30 reported about 0.84 that way)."""
        tuning = self.tuning(layer)                                              # [C_l, n_angles]
        top = tuning.amax(dim=1, keepdim=True)
        return (((tuning == top) & (top > 0)).sum(dim=1) >= 2).nonzero().flatten().tolist()

    def ranking(self, layer: str, k: int = 8, min_response: float = 0.1) -> list:
        """The k most orientation-selective channels [(channel, OSI, preferred angle)], skipping
        near-silent ones (R_pref below ``min_response`` times the layer's strongest unit) and
        saturated ones (``saturated``: a clipped response makes the OSI meaningless)."""
        tuning = self.tuning(layer)                                              # [C_l, n_angles]
        R_pref = tuning.amax(dim=1)
        osi = orientation_selectivity_index(tuning).masked_fill(R_pref < min_response * R_pref.max(), -1)
        osi[self.saturated(layer)] = -1
        top = osi.topk(min(k, len(osi)))
        return [(c, o, self.angles[tuning[c].argmax()].item()) for c, o in zip(top.indices.tolist(), top.values.tolist()) if o >= 0]

    def profile(self, layer: str, channel: int, angle: float, n: int | None = None) -> tuple:
        """Simple vs complex cell: positions [n] and responses [n] of one unit to a bar at ``angle``."""
        channel, n = self.check_channel(layer, channel), n or self.cfg.profile_points
        key = (layer, channel, float(angle), n)
        if key not in self._profiles:
            positions = torch.linspace(-self.cfg.profile_range, self.cfg.profile_range, n)
            R = unit_responses(self.model, self.bars([angle], positions), layer, self.cfg.batch)[:, channel]
            self._profiles[key] = positions, R
        return self._profiles[key]

    def frequency_tuning(self, layer: str, channel: int, frequencies, n_phases: int = 8) -> torch.Tensor:
        """Responses [len(frequencies)] to gratings at the unit's preferred angle, best over phases."""
        channel = self.check_channel(layer, channel)
        angle = self.angles[self.tuning(layer)[channel].argmax()].item()
        phases = torch.arange(n_phases) * 2 * math.pi / n_phases
        gratings = torch.stack([oriented_grating(self.cfg.size, angle, float(f), float(p)) for f in frequencies for p in phases])
        R = unit_responses(self.model, gratings, layer, self.cfg.batch)[:, channel]   # [n_freq * n_phases]
        return R.view(len(frequencies), n_phases).amax(dim=1)

    def show(self, layer: str, channel: int, angle: float, position: float):
        """The stimulus, the channel's tuning curve and its response vs position, with the current response.

        Only the current stimulus goes through the net; the curves come from the cached sweep."""
        channel = self.check_channel(layer, channel)
        bar = oriented_bar(self.cfg.size, angle, position, self.cfg.bar_width)
        now = unit_responses(self.model, bar[None], layer)[0, channel].item()
        tuning = self.tuning(layer)[channel]                                     # [n_angles]
        nearest = (self.angles - angle % 180).abs().argmin()
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1.6, 1.6]})
        axes[0].imshow(bar.permute(1, 2, 0).numpy())
        axes[0].set_title(tr("θ = {angle:.0f}°, position {position:+.1f} px", angle=angle, position=position)), axes[0].axis("off")
        axes[1].plot(self.angles.numpy(), tuning.numpy(), "o-", ms=3, label=tr("best over positions"))
        axes[1].plot([angle % 180], [now], "r*", ms=12, label=tr("this stimulus"))
        axes[1].set_xlabel(tr("orientation θ, degrees")), axes[1].set_ylabel(tr("response R"))
        axes[1].set_title(tr("{layer} channel {channel}: OSI {osi:.2f}", layer=layer, channel=channel,
                             osi=orientation_selectivity_index(tuning).item()))
        axes[1].legend(fontsize=7)
        axes[2].plot(self.positions.numpy(), self.sweep(layer)[nearest, :, channel].numpy(), "o-", ms=3,
                     label=tr("sweep at θ = {angle:.0f}°", angle=self.angles[nearest].item()))
        axes[2].plot([position], [now], "r*", ms=12, label=tr("this stimulus"))
        axes[2].set_xlabel(tr("bar position, px")), axes[2].set_title(tr("response vs position")), axes[2].legend(fontsize=7)
        fig.tight_layout()
        return fig

    def show_ranking(self, layer: str, k: int = 8):
        """Tuning curves of the k most orientation-selective units of ``layer``, with their OSI."""
        ranked = self.ranking(layer, k)
        if not ranked:
            raise ValueError(tr("no unit of {layer!r} responds to the bars; try another layer", layer=layer))
        tuning = self.tuning(layer)
        fig, axes = plt.subplots(1, len(ranked), figsize=(2.2 * len(ranked), 2.4), squeeze=False, sharex=True)
        for ax, (c, osi, pref) in zip(axes[0], ranked):
            ax.plot(self.angles.numpy(), tuning[c].numpy(), ".-")
            ax.set_title(tr("ch {c}: OSI {osi:.2f}\npreferred {pref:.0f}°", c=c, osi=osi, pref=pref), fontsize=8)
            ax.set_xticks([0, 90, 180])
        fig.suptitle(trn("{layer}: the {n} most orientation-selective unit (response vs θ)",
                         "{layer}: the {n} most orientation-selective units (response vs θ)", len(ranked), layer=layer), fontsize=10)
        fig.tight_layout()
        return fig

    def show_simple_vs_complex(self, layers, k: int | None = None):
        """Response vs bar position of the most selective units of each layer, at their preferred angle.

        Invariance = mean / max of the profile: low for position-specific (simple) units,
        near 1 for units that respond wherever the bar is (complex)."""
        fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3), squeeze=False)
        for ax, layer in zip(axes[0], layers):
            for c, osi, pref in self.ranking(layer, k or self.cfg.profile_units):
                positions, R = self.profile(layer, c, pref)
                ax.plot(positions.numpy(), (R / R.max().clamp_min(1e-12)).numpy(),
                        label=tr("ch {c}, {pref:.0f}°: invariance {invariance:.2f}", c=c, pref=pref, invariance=position_invariance(R)))
            ax.set_title(layer), ax.set_xlabel(tr("bar position, px")), ax.legend(fontsize=7)
        axes[0][0].set_ylabel(tr("response / its max"))
        fig.tight_layout()
        return fig


def position_invariance(profile: torch.Tensor) -> float:
    """mean / max of a response-vs-position profile (0 for a silent unit)."""
    peak = profile.max().item()
    return profile.mean().item() / peak if peak > 0 else 0.0
