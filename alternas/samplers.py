"""The diffusion samplers alternas offers, each declared once: a diffusers scheduler class and the
settings that make it sample well at few steps from a model's training noise schedule.

A sampler is built from the *training* scheduler's config (betas, prediction type, clipping) plus its
own settings, passed to ``from_config`` as keyword arguments so that they win over the defaults the
training config leaves implicit. Why settings are needed: with its default ``timestep_spacing``
("linspace") a DPM-Solver, UniPC or Euler sampler takes its first step at t = 999, where a
``squaredcos_cap_v2`` schedule's alpha_bar is 2.4e-9 and nothing clips the clean-image estimate; the
built-in digits teacher then scores FID ~130 at every step count. ``leading`` spacing (as in the
scheduler configs diffusers ships with Stable Diffusion) starts at t = 1000 - 1000 / steps instead.

Add a sampler with :func:`register_sampler` (one call, in any module imported before the recipe is
read); evaluation, the export's scheduler, the recipe schema and validation all read :data:`SAMPLERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

__all__ = [
    "SAMPLERS",
    "Sampler",
    "check_sampler_names",
    "distinct_samplers",
    "get_sampler",
    "make_scheduler",
    "register_sampler",
    "sampler_timesteps",
]


@dataclass(frozen=True)
class Sampler:
    """One sampler a recipe can name (``eval.scheduler``).

    Attributes:
        name: the recipe's name for it.
        scheduler_class: the diffusers scheduler's class name (imported when a scheduler is made, so that
            reading a recipe does not import diffusers).
        settings: scheduler config values that override the training schedule's (e.g. spacing).
        description: one line for the schema and the docs.
    """

    name: str
    scheduler_class: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    @property
    def signature(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """What makes two samplers the same: their scheduler class and settings (an alias shares both)."""
        return self.scheduler_class, tuple(sorted(self.settings.items()))

    def make(self, train_scheduler_config: Mapping[str, Any]) -> SchedulerMixin:
        """A fresh scheduler on the training noise schedule with this sampler's settings."""
        scheduler_class = getattr(importlib.import_module("diffusers"), self.scheduler_class)
        return scheduler_class.from_config(dict(train_scheduler_config), **self.settings)

    def timesteps(self, train_scheduler_config: Mapping[str, Any], steps: int) -> list[int]:
        """The training timesteps this sampler visits at ``steps`` steps, in visiting order."""
        scheduler = self.make(train_scheduler_config)
        scheduler.set_timesteps(steps)
        last = int(train_scheduler_config.get("num_train_timesteps", 1000)) - 1
        return [min(max(int(round(float(t))), 0), last) for t in scheduler.timesteps]


#: every sampler a recipe may name, by name
SAMPLERS: dict[str, Sampler] = {}


def register_sampler(sampler: Sampler) -> Sampler:
    """Offer ``sampler`` under its name (a name is registered once)."""
    if sampler.name in SAMPLERS:
        raise ValueError(f"a sampler named `{sampler.name}` is already registered")
    SAMPLERS[sampler.name] = sampler
    return sampler


def get_sampler(name: str) -> Sampler:
    """The sampler registered as ``name``.

    Raises:
        KeyError: no sampler has that name (the message lists those that do).
    """
    if name not in SAMPLERS:
        raise KeyError(f"unknown sampler `{name}`; choose one of {', '.join(SAMPLERS)}")
    return SAMPLERS[name]


def distinct_samplers(exclude: tuple[str, ...] = ("ddpm",)) -> list[str]:
    """Registered sampler names, each scheduler-and-settings pair once (an alias gives way to the name
    registered first), without ``exclude`` (by default ``ddpm``: ancestral sampling needs hundreds of
    steps, so it never serves a few-step baseline)."""
    seen, names = set(), []
    for name, sampler in SAMPLERS.items():
        if name not in exclude and sampler.signature not in seen:
            seen.add(sampler.signature)
            names.append(name)
    return names


def check_sampler_names(names: list[str] | None) -> list[str] | None:
    """``names`` when they are distinct registered samplers, at least one (``None`` passes: "the default").

    Raises:
        ValueError: an unknown or repeated name, or an empty list (the message lists the names there are).
    """
    if names is None:
        return None
    if not names or len(set(names)) != len(names) or any(name not in SAMPLERS for name in names):
        raise ValueError(f"samplers must be distinct names of {', '.join(SAMPLERS)}, at least one; got {names}")
    return names


def make_scheduler(name: str, train_scheduler_config: Mapping[str, Any]) -> SchedulerMixin:
    """A fresh scheduler of the sampler ``name`` on the training noise schedule (betas, prediction type)."""
    return get_sampler(name).make(train_scheduler_config)


def sampler_timesteps(name: str, train_scheduler_config: Mapping[str, Any], steps: int) -> list[int]:
    """The training timesteps the sampler ``name`` visits at ``steps`` steps, in visiting order."""
    return get_sampler(name).timesteps(train_scheduler_config, steps)


_LEADING = {"timestep_spacing": "leading"}
_DPMPP_2M = {"algorithm_type": "dpmsolver++", "solver_order": 2, **_LEADING}

register_sampler(Sampler("ddim", "DDIMScheduler", {}, "DDIM on the training schedule's own settings"))
register_sampler(
    Sampler("ddim_trailing", "DDIMScheduler", {"timestep_spacing": "trailing"}, "DDIM from t = 999 (trailing spacing)")
)
register_sampler(Sampler("dpmpp_2m", "DPMSolverMultistepScheduler", _DPMPP_2M, "DPM-Solver++ (2M), leading spacing"))
#: the name earlier recipes used for DPM-Solver (broken before it had settings): now DPM-Solver++ 2M
register_sampler(Sampler("dpm_solver", "DPMSolverMultistepScheduler", _DPMPP_2M, "the same sampler as dpmpp_2m"))
register_sampler(Sampler("unipc", "UniPCMultistepScheduler", _LEADING, "UniPC (bh2), leading spacing"))
register_sampler(Sampler("euler", "EulerDiscreteScheduler", _LEADING, "Euler, leading spacing"))
register_sampler(Sampler("ddpm", "DDPMScheduler", {}, "ancestral DDPM (use many steps)"))
