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
A recipe may also change a registered sampler's settings in place, ``{name: unipc, solver_order: 3}``:
:func:`sampler_name` turns that into the name ``unipc{"solver_order": 3}``, which :func:`get_sampler`
reads back, so the rest of alternas (trial configs, the baseline, the search space) only ever holds names.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

__all__ = [
    "SAMPLERS",
    "Sampler",
    "check_sampler_name",
    "check_sampler_names",
    "distinct_samplers",
    "get_sampler",
    "make_scheduler",
    "register_sampler",
    "sampler_name",
    "sampler_names",
    "sampler_schema",
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
        return self._scheduler_class().from_config(dict(train_scheduler_config), **self.settings)

    def with_settings(self, settings: Mapping[str, Any]) -> Sampler:
        """This sampler with ``settings`` over its own, named ``<name>{<settings as sorted JSON>}``.

        Raises:
            KeyError: a setting the scheduler class does not take, or values it cannot sample with (the
                message names the settings it takes, or the scheduler's own complaint).
        """
        scheduler_class = self._scheduler_class()
        known = sorted(set(inspect.signature(scheduler_class.__init__).parameters) - {"self", "kwargs"})
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise KeyError(
                f"sampler `{self.name}` ({self.scheduler_class}) has no setting {', '.join(map(repr, unknown))}; "
                f"its settings are {', '.join(known)}"
            )
        merged = {**self.settings, **settings}
        try:  # values are checked where diffusers checks them: building the scheduler and placing steps
            scheduler_class(**merged).set_timesteps(10)
        except Exception as error:  # noqa: BLE001 - any complaint of diffusers' is the user's to read
            raise KeyError(f"sampler `{self.name}` cannot sample with {dict(settings)}: {error}") from None
        name = self.name + json.dumps(dict(settings), sort_keys=True)
        return Sampler(name, self.scheduler_class, merged, f"{self.description}, with {dict(settings)}")

    def _scheduler_class(self) -> type[SchedulerMixin]:
        return getattr(importlib.import_module("diffusers"), self.scheduler_class)

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


def sampler_name(choice: str | Mapping[str, Any]) -> str:
    """The name of a recipe's sampler: ``choice`` itself, or for a mapping ``{name: unipc, **settings}``
    the registered sampler's name followed by its settings as sorted JSON (``unipc{"solver_order": 3}``).

    Raises:
        ValueError: a mapping without a ``name``.
    """
    if not isinstance(choice, Mapping):
        return choice
    if not isinstance(choice.get("name"), str):
        raise ValueError(f"a sampler given as a mapping needs a `name` (e.g. {{name: unipc, solver_order: 3}}), got {dict(choice)}")
    settings = {key: value for key, value in choice.items() if key != "name"}
    return choice["name"] + json.dumps(settings, sort_keys=True) if settings else choice["name"]


def sampler_names(choices: Any) -> Any:
    """``choices`` (one choice or a list) with each mapping turned into its :func:`sampler_name` (anything
    else as it is, for validation to judge)."""
    if isinstance(choices, list):
        return [sampler_name(choice) for choice in choices]
    return sampler_name(choices)


def sampler_schema() -> dict[str, Any]:
    """The JSON schema of one sampler choice: a registered name, or ``{name: <registered>, <setting>: ...}``."""
    names = {"type": "string", "enum": list(SAMPLERS)}
    with_settings = {"type": "object", "required": ["name"], "properties": {"name": names},
                     "additionalProperties": True, "description": "a sampler with settings of its own"}
    return {"anyOf": [names, with_settings]}


def get_sampler(name: str) -> Sampler:
    """The sampler named ``name``: a registered one, or one with settings of its own (:func:`sampler_name`).

    Raises:
        KeyError: no sampler has that name, or its settings do not work (the message says which).
    """
    if name in SAMPLERS:
        return SAMPLERS[name]
    base, brace, settings = name.partition("{")
    if brace and base in SAMPLERS:
        return _with_settings(name, base, brace + settings)
    raise _unknown(name)


def _unknown(name: str) -> KeyError:
    return KeyError(f"unknown sampler `{name}`; choose one of {', '.join(SAMPLERS)}, or one with settings such as "
                    f"{{name: unipc, solver_order: 3}}")


@functools.cache
def _with_settings(name: str, base: str, settings: str) -> Sampler:
    """The registered sampler ``base`` with the JSON object ``settings`` (``name`` is both; checked once)."""
    try:
        parsed = json.loads(settings)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise _unknown(name)
    return SAMPLERS[base].with_settings(parsed)


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


def check_sampler_name(name: str) -> str:
    """``name`` when :func:`get_sampler` knows it.

    Raises:
        ValueError: an unknown name or settings that do not work (:func:`get_sampler`'s message).
    """
    try:
        get_sampler(name)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return name


def check_sampler_names(names: list[str] | None) -> list[str] | None:
    """``names`` when they are distinct registered samplers, at least one (``None`` passes: "the default").

    Raises:
        ValueError: an unknown or repeated name, or an empty list (the message lists the names there are).
    """
    if names is None:
        return None
    if not names or len(set(names)) != len(names):
        raise ValueError(f"samplers must be distinct names of {', '.join(SAMPLERS)}, at least one; got {names}")
    for name in names:
        check_sampler_name(name)
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
