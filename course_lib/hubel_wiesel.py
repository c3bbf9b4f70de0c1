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

Contrast: the experiment shows the bars on a mid-grey screen (the blank), ``contrast`` brighter
than it. A unit can only be measured where it stays between its floor and its ceiling: a ReLU6
clipped at 6 answers several angles with the same 6, and the OSI of two clipped numbers means
nothing. A full-contrast bar (black to white) drives the trained stem's strongest units to
pre-activations of +-80, and 12 of its 32 units hit the ceiling; the default contrast (a faint
bar, 3 % of the range) keeps every unit on the linear part (``clipped_by_contrast`` measures it).
"""
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn as nn

from .config import lecture_or_quick
from .models import CourseModel, check_name
from .i18n import tr, trn


@dataclass
class HubelWieselConfig:
    size: int = lecture_or_quick(96, 64)           # stimulus side, pixels
    n_angles: int = lecture_or_quick(36, 12)       # orientations evenly spaced in [0, 180)
    n_positions: int = lecture_or_quick(8, 5)      # bar positions per orientation; steps <= bar_width leave no gap
    position_range: float = 6.0                    # tuning sweep positions in [-r, r] px
    profile_range: float = lecture_or_quick(24.0, 16.0)   # simple vs complex: positions in [-r, r] px
    profile_points: int = lecture_or_quick(49, 25)          # positions in that range
    profile_units: int = lecture_or_quick(3, 2)            # most selective units per layer shown
    bar_width: float = 3.0
    background: float = 0.5                       # the blank screen: mid-grey
    contrast: float = 0.03                         # a bar is this much brighter; a grating swings +-contrast/2
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


def _check_stimuli(stimuli: torch.Tensor) -> torch.Tensor:
    if stimuli.dim() != 4 or stimuli.shape[1] != 3:
        raise ValueError(tr("stimuli must be [N, 3, S, S], got shape {shape}", shape=list(stimuli.shape)))
    return stimuli


@torch.no_grad()
def centre_activations(model: CourseModel, stimuli: torch.Tensor, layer: str, batch: int = 96) -> torch.Tensor:
    """Activations F [N, C_l] of the centre units of ``layer`` for stimuli [N, 3, S, S] in [0, 1]."""
    check_name("layer", layer, model.layers)
    out = []
    for chunk in _check_stimuli(stimuli).split(batch):
        F_l = model.features(model.to_input(chunk), [layer])[layer]   # [n, C_l, H_l, W_l] or [n, C_l]
        if F_l.dim() == 4:
            F_l = F_l[:, :, F_l.shape[2] // 2, F_l.shape[3] // 2]      # the unit at the centre, [n, C_l]
        out.append(F_l.cpu())
    return torch.cat(out)


def unit_responses(model: CourseModel, stimuli: torch.Tensor, layer: str, batch: int = 96,
                   background: float = 0.0) -> torch.Tensor:
    """Responses R = max(F(stimulus) - F(blank), 0) [N, C_l] of the centre units of ``layer`` to stimuli
    [N, 3, S, S] in [0, 1]; the blank screen is ``background`` (black by default).

    (slide: Модель Hubel & Weisel)"""
    blank = torch.full_like(_check_stimuli(stimuli)[:1], background)
    F_c = centre_activations(model, torch.cat([blank, stimuli]), layer, batch)   # [1 + N, C_l]
    return (F_c[1:] - F_c[:1]).clamp_min(0)


def ceiling(model: CourseModel, layer: str) -> float | None:
    """The largest value the layer's activation can take: 6 for a ReLU6, ``None`` for an unbounded layer."""
    module = model.layer(layer)
    return float(module.max_val) if isinstance(module, nn.Hardtanh) else None


class HubelWieselExperiment:
    """The cat experiment on a network: bars swept over angle and position (slide: Модель Hubel & Weisel).

    Sweeps (per layer) and position profiles are cached, so widget sliders only run one stimulus."""

    def __init__(self, model: CourseModel, config: HubelWieselConfig | None = None):
        self.model, self.cfg = model, config or HubelWieselConfig()
        self.angles = angles(self.cfg.n_angles)                                  # [n_angles]
        r = self.cfg.position_range
        self.positions = torch.linspace(-r, r, self.cfg.n_positions)             # [n_positions]
        self._sweeps, self._clipped, self._profiles = {}, {}, {}

    def bars(self, angles_deg, positions) -> torch.Tensor:
        """Every (angle, position) bar at full contrast, white on black: [len(angles) * len(positions), 3, S, S]."""
        return torch.stack([oriented_bar(self.cfg.size, float(a), float(p), self.cfg.bar_width)
                            for a in angles_deg for p in positions])

    def respond(self, layer: str, patterns: torch.Tensor, contrast: float | None = None) -> tuple:
        """Show patterns [N, 3, S, S] (bars in [0, 1], gratings in [-0.5, 0.5]) on the grey screen:
        background + contrast * pattern. Returns the responses R [N, C_l] and, per unit, whether its
        activation reached the layer's ceiling for the blank or any pattern (clipped [C_l])."""
        contrast = self.cfg.contrast if contrast is None else contrast
        screen = torch.full_like(patterns[:1], self.cfg.background)
        F_c = centre_activations(self.model, torch.cat([screen, screen + contrast * patterns]), layer, self.cfg.batch)
        top = ceiling(self.model, layer)                                           # 6 for a ReLU6
        clipped = (F_c >= top).any(dim=0) if top is not None else torch.zeros(F_c.shape[1], dtype=torch.bool)
        return (F_c[1:] - F_c[:1]).clamp_min(0), clipped                           # [N, C_l], [C_l]

    def sweep(self, layer: str) -> torch.Tensor:
        """Responses [n_angles, n_positions, C_l] of the centre units to every bar (cached)."""
        if layer not in self._sweeps:
            R, self._clipped[layer] = self.respond(layer, self.bars(self.angles, self.positions))
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
        """Units whose activation reached the layer's ceiling (a ReLU6's 6) during the sweep or on the blank screen.

        Clipped, R_pref and R_orth can both stop at the same 6, and their ratio (the OSI) says nothing about
        the unit's orientation (at full contrast the stem's units 21 and 30 reported about 0.84 that way)."""
        self.sweep(layer)
        return self._clipped[layer].nonzero().flatten().tolist()

    def clipped_by_contrast(self, layer: str, contrasts) -> dict:
        """{contrast: units whose activation reaches the ceiling in the bar sweep at that contrast}."""
        bars = self.bars(self.angles, self.positions)
        return {c: self.respond(layer, bars, c)[1].nonzero().flatten().tolist() for c in contrasts}

    def ranking(self, layer: str, k: int = 8, min_response: float = 0.1) -> list:
        """The k most orientation-selective channels [(channel, OSI, preferred angle)], skipping
        near-silent ones (R_pref below ``min_response`` times the layer's strongest unit) and
        saturated ones (``saturated``: a clipped response makes the OSI meaningless); equal OSIs: the stronger first."""
        tuning = self.tuning(layer)                                              # [C_l, n_angles]
        R_pref = tuning.amax(dim=1)
        osi = orientation_selectivity_index(tuning).masked_fill(R_pref < min_response * R_pref.max(), -1)
        osi[self.saturated(layer)] = -1
        order = sorted(range(len(osi)), key=lambda c: (-osi[c].item(), -R_pref[c].item()))[:k]
        return [(c, osi[c].item(), self.angles[tuning[c].argmax()].item()) for c in order if osi[c] >= 0]

    def profile(self, layer: str, channel: int, angle: float, n: int | None = None) -> tuple:
        """Simple vs complex cell: positions [n] and responses [n] of one unit to a bar at ``angle``."""
        channel, n = self.check_channel(layer, channel), n or self.cfg.profile_points
        key = (layer, channel, float(angle), n)
        if key not in self._profiles:
            positions = torch.linspace(-self.cfg.profile_range, self.cfg.profile_range, n)
            self._profiles[key] = positions, self.respond(layer, self.bars([angle], positions))[0][:, channel]
        return self._profiles[key]

    def frequency_tuning(self, layer: str, channel: int, frequencies, n_phases: int = 8) -> torch.Tensor:
        """Responses [len(frequencies)] to gratings at the unit's preferred angle, best over phases."""
        channel = self.check_channel(layer, channel)
        angle = self.angles[self.tuning(layer)[channel].argmax()].item()
        phases = torch.arange(n_phases) * 2 * math.pi / n_phases
        gratings = torch.stack([oriented_grating(self.cfg.size, angle, float(f), float(p)) for f in frequencies for p in phases])
        R = self.respond(layer, gratings - 0.5)[0][:, channel]                    # [n_freq * n_phases]
        return R.view(len(frequencies), n_phases).amax(dim=1)

    def show(self, layer: str, channel: int, angle: float, position: float):
        """The stimulus, the channel's tuning curve and its response vs position, with the current response.

        Only the current stimulus goes through the net; the curves come from the cached sweep."""
        channel = self.check_channel(layer, channel)
        bar = oriented_bar(self.cfg.size, angle, position, self.cfg.bar_width)
        now = self.respond(layer, bar[None])[0][0, channel].item()
        tuning = self.tuning(layer)[channel]                                     # [n_angles]
        nearest = (self.angles - angle % 180).abs().argmin()
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1, 1.6, 1.6]})
        axes[0].imshow(bar.permute(1, 2, 0).numpy())                            # the faint bar, drawn stretched to be seen
        axes[0].set_title(tr("θ = {angle:.0f}°, position {position:+.1f} px", angle=angle, position=position) + "\n"
                          + tr("contrast {contrast:.0%} on grey, drawn stretched", contrast=self.cfg.contrast), fontsize=9)
        axes[0].axis("off")
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
