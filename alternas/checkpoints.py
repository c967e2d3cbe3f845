"""Training checkpoints on disk: ``<checkpoint dir>/step-<k>/trainer.pt``, the two newest kept.

A checkpoint is written atomically (a folder staged under a temporary name, then renamed) and read
back with ``torch.load(weights_only=True)``: only tensors and plain data are unpickled, so a planted
file cannot run code. What a checkpoint holds is the trainer's business
(:meth:`alternas.trainer.AlterTrainer.state_dict` names its parts); this module lays a state out as
plain data, stores it and finds it again.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from ._atomic import atomic_dir, discard
from .exceptions import CheckpointError

__all__ = [
    "CHECKPOINT_FILE",
    "Stateful",
    "latest_checkpoint",
    "list_checkpoints",
    "pack_state",
    "read_checkpoint",
    "resume",
    "unpack_state",
    "write_checkpoint",
]

logger = logging.getLogger("alternas")
#: the file inside each checkpoint folder
CHECKPOINT_FILE = "trainer.pt"
_KEEP = 2
#: version of the layout :func:`pack_state` writes
_FORMAT = 2


class Stateful(Protocol):
    """Anything with ``state_dict`` / ``load_state_dict`` (modules, optimisers)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def pack_state(
    identity: str, step: int, parts: Mapping[str, Stateful], history: list[dict[str, float]]
) -> dict[str, Any]:
    """A training state as plain data: layout version, config identity, step, each part's state by
    its key, the logged history and the torch RNG states.

    Args:
        identity: hash of the settings that shape training; a checkpoint only loads into the same one.
        step: iterations done.
        parts: the stateful parts of the run, by checkpoint key.
        history: the metrics logged so far.
    """
    return {
        "format": _FORMAT,
        "config_hash": identity,
        "step": step,
        **{key: part.state_dict() for key, part in parts.items()},
        "history": history,
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
    }


def unpack_state(
    state: Any, identity: str, parts: Mapping[str, Stateful]
) -> tuple[int, list[dict[str, float]]]:
    """Restore ``parts`` and the RNG states from a :func:`pack_state` result; returns ``(step, history)``.

    Raises:
        CheckpointError: the state is from another config identity or layout, or lacks or mangles a part.
    """
    if not isinstance(state, dict) or state.get("config_hash") != identity:
        raise CheckpointError(
            "the checkpoint was written by a run with a different config; start a new run "
            "directory or restore the original config"
        )
    if state.get("format") != _FORMAT:
        raise CheckpointError(
            f"the checkpoint has layout {state.get('format')!r}, this alternas reads layout {_FORMAT}; "
            "remove the run's `checkpoints` folder to train from the start"
        )
    try:
        for key, part in parts.items():
            part.load_state_dict(state[key])
        history = [{str(k): float(v) for k, v in entry.items()} for entry in state["history"]]
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        return int(state["step"]), history
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as error:
        raise CheckpointError(f"the checkpoint is incomplete or damaged: {type(error).__name__}: {error}") from error


def list_checkpoints(directory: str | Path) -> list[Path]:
    """The complete checkpoint folders under ``directory``, newest first."""
    return [file.parent for file in sorted(Path(directory).glob(f"step-*/{CHECKPOINT_FILE}"), reverse=True)]


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[0] if found else None


def write_checkpoint(directory: str | Path, step: int, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``<directory>/step-<step>/trainer.pt`` atomically and keep the two newest.

    Raises:
        StorageError: the checkpoint cannot be written (disk full); the older ones are kept.
    """
    directory = Path(directory)
    for leftover in directory.glob(".step-*.tmp"):  # from a run killed while writing one
        discard(leftover)
    target = directory / f"step-{step:08d}"
    with atomic_dir(target) as staging:
        torch.save(state, staging / CHECKPOINT_FILE)
    for old in list_checkpoints(directory)[_KEEP:]:
        discard(old)
    return target


def read_checkpoint(path: str | Path, device: torch.device) -> dict[str, Any]:
    """The state stored in the checkpoint folder ``path``, its tensors on ``device``.

    Raises:
        CheckpointError: it is missing, unreadable, or holds objects other than tensors and plain data.
    """
    file = Path(path) / CHECKPOINT_FILE
    try:
        return torch.load(file, map_location=device, weights_only=True)
    except FileNotFoundError as error:
        raise CheckpointError(f"no checkpoint at `{path}` (missing {CHECKPOINT_FILE})") from error
    except pickle.UnpicklingError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint `{file}` was refused: it holds objects other than tensors and plain data, "
            f"which could run code when loaded ({reason}); delete it if you did not write it"
        ) from error
    except Exception as error:  # torch raises many types for a truncated/corrupted file
        raise CheckpointError(f"checkpoint `{file}` is corrupted: {error}") from error


def resume(candidates: Sequence[str | Path], load: Callable[[Path], None]) -> Path | None:
    """Call ``load`` on the first checkpoint folder of ``candidates`` (newest first) that it accepts.

    One that ``load`` refuses with :class:`CheckpointError` is skipped with a warning, so a run whose
    newest checkpoint was torn (or planted) continues from the one before.

    Returns:
        The checkpoint folder used, or ``None`` when there are no candidates.

    Raises:
        CheckpointError: none of the candidates can be loaded.
    """
    problems = []
    for candidate in candidates:
        try:
            load(Path(candidate))
        except CheckpointError as error:
            logger.warning("cannot resume from %s: %s", candidate, error)
            problems.append(str(error))
            continue
        if problems:
            logger.warning("resumed from the older checkpoint %s instead", candidate)
        return Path(candidate)
    if problems:
        raise CheckpointError(
            "no readable checkpoint to resume from:\n"
            + "\n".join(problems)
            + "\nremove the run's `checkpoints` folder to train from the start"
        )
    return None
