"""The guided lecture's stops, as data: fixed before anything runs (tests/app/test_lecture.py checks them).

Each stop follows the lecture (assets/lecture/week08-1-contrastive-methods-<lang>.md) in its own order:
the recap (maximum likelihood, only energy differences matter), contrastive embedding (pairs, cosine
similarity, PIRL's memory bank, MoCo, SimCLR's limit), the denoising autoencoder, then the other contrastive
methods (CD continuous and discrete, persistent CD, ratio matching, NCE, MPF).

A stop names the page that shows it (`page`, a stem of pages/), the preset that page's settings form takes
from the URL (`preset`: `<form>.<setting>` → text, read by app/share.py), session-state entries the page
reads outside its form (`state`: a mode, a multiselect), the run slot its `run_controls` draws (`slot`: the
"show me" button starts it through `_autostart.<slot>`), the metric reader (`check`, app/tour_checks.py), and
the verdict's rule: `value <compare> threshold` (`between`: lo ≤ value ≤ hi), read once the run has passed
`min_step` (a run with a step budget: once it has finished). Texts (claim quotes, what to look at, the check's
sentence) are in the catalogues `lecture` and `tour` under `<key>.<stop id>`.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

LECTURE = "lecture"  # a stop shown on the lecture page itself (its experiment runs there)
SECTIONS = ("recap", "embedding", "dae", "other")
COMPARE = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


@dataclass(frozen=True)
class Stop:
    id: str
    section: str
    page: str
    check: str
    compare: str  # "<=", ">=", "<", ">", or "between" (threshold is (lo, hi))
    threshold: float | tuple[float, float]
    slot: str | None = None  # the run slot (run_controls' name) on the target page
    form: str | None = None  # the settings form whose query parameters the preset sets
    preset: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    state: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    min_step: int = 0  # a run without a step budget is read once it has made this many steps
    digits: int = 3
    pause_after: bool = False  # the run has no budget: the tour box offers Pause; leaving the stop pauses it
    job: bool = False  # the page runs it as a background job (no Train button): the tour box starts it

    def passes(self, value: float) -> bool:
        if self.compare == "between":
            lo, hi = self.threshold  # type: ignore[misc]
            return lo <= value <= hi
        return COMPARE[self.compare](value, self.threshold)

    def signature(self) -> tuple:
        """Stops with the same signature share one run (the second opens it without training again)."""
        return (self.page, self.slot, tuple(sorted(self.preset.items())),
                tuple(sorted((k, repr(v)) for k, v in self.state.items())))

    def query(self) -> dict[str, str]:
        return dict(self.preset)


def _frozen(d: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


# ---- presets (each run ends by itself within ~20–40 s on a 2-core CPU, or is read at min_step) -------------
ML = _frozen({"ml.dataset": "eight_gaussians", "ml.steps": "1500", "ml.seed": "0"})
EMBED = {"embed.dataset": "digits", "embed.seed": "0"}
SIMCLR = _frozen({**EMBED, "embed.method": "simclr"})
SIMCLR_L2 = _frozen({**EMBED, "embed.method": "simclr_l2"})
PIRL = _frozen({**EMBED, "embed.method": "pirl", "embed.batch_size": "128"})
MOCO = _frozen({**EMBED, "embed.method": "moco"})
# the bowl on one circle; the flat spots need two branches (on two_circles the growth exponent in the band
# 0.1–0.4 measured −0.22 at this budget: the energy between the circles falls toward the midpoint)
DAE_CIRCLE = _frozen({"dae.dataset": "circle", "dae.sigma": "0.5", "dae.steps": "1500", "dae.seed": "0"})
DAE = _frozen({"dae.dataset": "two_circles", "dae.sigma": "0.5", "dae.steps": "1500", "dae.seed": "0"})
CD = _frozen({"cd.dataset": "eight_gaussians", "cd.method": "cd", "cd.steps": "800", "cd.seed": "0"})
PCD = _frozen({"cd.dataset": "eight_gaussians", "cd.method": "pcd", "cd.steps": "800", "cd.seed": "0"})
PCD_DIM = _frozen({"cdd.dataset": "eight_gaussians", "cdd.dims": "2,16", "cdd.methods": "pcd", "cdd.steps": "300",
                   "cdd.samples": "1000", "cdd.sample_steps": "200", "cdd.seed": "0"})
BINARY = _frozen({"bin.dataset": "bars_stripes", "bin.model": "fvbm", "bin.steps": "800", "bin.seed": "0"})
BINARY_STATE = _frozen({"bin_methods": ["ml", "cd", "rm", "mpf", "nce"]})
CD_STATE = _frozen({"cd_mode": "train"})
DIM_STATE = _frozen({"cd_mode": "dimension"})

STOPS: tuple[Stop, ...] = (
    # ---- recap --------------------------------------------------------------------------------------------
    Stop("ml_push", "recap", "maximum_likelihood", "kl_ratio", "<=", 0.10, slot="ml", form="ml", preset=ML),
    # float32 energies: adding c rounds values of order 1–10 by ~1e-6; a real dependence would move them by ~c
    Stop("ml_differences", "recap", "maximum_likelihood", "shift", "<=", 1e-5, slot="ml", form="ml", preset=ML,
         min_step=100),
    # ---- contrastive embedding ------------------------------------------------------------------------------
    Stop("pairs", "embedding", "contrastive_embedding", "contrastive_acc", ">=", 0.05, slot="embed", form="embed",
         preset=SIMCLR, min_step=40, pause_after=True),
    Stop("cosine", "embedding", "contrastive_embedding", "l2_floor", "<", 0.0, slot="embed", form="embed",
         preset=SIMCLR_L2, min_step=80, pause_after=True),
    Stop("pirl", "embedding", "contrastive_embedding", "probe_gain", ">=", 0.02, slot="embed", form="embed",
         preset=PIRL, min_step=40, pause_after=True),
    Stop("moco", "embedding", "contrastive_embedding", "probe_gain", ">=", 0.02, slot="embed", form="embed",
         preset=MOCO, min_step=40, pause_after=True),
    Stop("simclr_limits", "embedding", LECTURE, "infonce_cap", ">=", 0.9, slot="lecture_cap"),
    # ---- denoising autoencoder ------------------------------------------------------------------------------
    Stop("dae_quadratic", "dae", "denoising_autoencoder", "dae_growth", "between", (1.6, 2.5), slot="dae",
         form="dae", preset=DAE_CIRCLE, digits=2),
    Stop("dae_flat", "dae", "denoising_autoencoder", "dae_midpoint", "<=", 0.5, slot="dae", form="dae", preset=DAE),
    # ---- other contrastive methods --------------------------------------------------------------------------
    Stop("cd_continuous", "other", "contrastive_divergence", "kl_ratio", "<=", 0.4, slot="cd", form="cd", preset=CD,
         state=CD_STATE),
    Stop("cd_discrete", "other", "binary", "binary_kl", "<=", 0.3, slot="binary", form="bin", preset=BINARY,
         state=BINARY_STATE),
    Stop("pcd", "other", "contrastive_divergence", "kl_ratio", "<=", 0.4, slot="cd", form="cd", preset=PCD,
         state=CD_STATE),
    # the same budget in d = 2 and d = 16 (the data near a plane of R^16): the histogram KL of PCD's samples
    Stop("pcd_dimension", "other", "contrastive_divergence", "dimension_kl", ">=", 1.5, slot="cd_dimension",
         form="cdd", preset=PCD_DIM, state=DIM_STATE, job=True),
    Stop("ratio_matching", "other", "binary", "binary_kl", "<=", 0.3, slot="binary", form="bin", preset=BINARY,
         state=BINARY_STATE),
    Stop("nce", "other", "binary", "binary_kl", "<=", 0.3, slot="binary", form="bin", preset=BINARY,
         state=BINARY_STATE),
    Stop("mpf", "other", "binary", "binary_kl", "<=", 0.3, slot="binary", form="bin", preset=BINARY,
         state=BINARY_STATE),
)
BY_ID = MappingProxyType({s.id: s for s in STOPS})
# which lane of the binary run each binary stop reads (its label starts with this)
BINARY_LANE = MappingProxyType({"cd_discrete": "cd", "ratio_matching": "rm", "nce": "nce", "mpf": "mpf"})
SHIFT_C = 5.0  # the constant added to the energy in the "only differences matter" check
CAP_SETTINGS = MappingProxyType({})  # the InfoNCE cap experiment's settings: its declared defaults


def index(stop_id: str) -> int:
    return next(i for i, s in enumerate(STOPS) if s.id == stop_id)
