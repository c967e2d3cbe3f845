"""Checkpoints hold plain data only: a planted pickle runs no code, resume falls back past it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from alternas.api import prepare_trainer
from alternas.exceptions import CheckpointError

from .conftest import cli_output


class _Payload:
    """Unpickling this creates ``marker``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _plant(folder: Path, marker: Path) -> None:
    torch.save({"format": 1, "step": 6, "payload": _Payload(marker)}, folder / "trainer.pt")


@pytest.fixture
def run_with_two_checkpoints(tiny_digits_run_config, tmp_path) -> tuple[Path, Path]:
    """A run config file and a run directory holding checkpoints at steps 3 and 6 of 6."""
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(tiny_digits_run_config))
    run_dir = tmp_path / "run"
    prepare_trainer(tiny_digits_run_config).fit(checkpoint_dir=run_dir / "checkpoints")
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["step-00000003", "step-00000006"]
    return config_file, run_dir


def test_planted_newest_checkpoint_runs_no_code_and_resume_uses_the_previous(
    run_with_two_checkpoints, tmp_path, capsys
):
    config_file, run_dir = run_with_two_checkpoints
    marker = tmp_path / "pwned"
    _plant(run_dir / "checkpoints" / "step-00000006", marker)

    code, output = cli_output(capsys, "train", str(config_file), "--out", str(run_dir), "--no-eval")

    assert not marker.exists()
    assert code == 0, output
    assert "refused" in output and "step-00000006" in output
    assert "resumed from the older checkpoint" in output and "step-00000003" in output
    assert (run_dir / "plan.yaml").is_file()


def test_no_readable_checkpoint_exits_2_without_running_code(run_with_two_checkpoints, tmp_path, capsys):
    config_file, run_dir = run_with_two_checkpoints
    marker = tmp_path / "pwned"
    _plant(run_dir / "checkpoints" / "step-00000006", marker)
    (run_dir / "checkpoints" / "step-00000003" / "trainer.pt").write_bytes(b"torn")

    code, output = cli_output(capsys, "train", str(config_file), "--out", str(run_dir), "--no-eval")

    assert not marker.exists()
    assert code == 2
    assert "no readable checkpoint" in output and "refused" in output and "Traceback" not in output
    assert str(run_dir / "checkpoints" / "step-00000006" / "trainer.pt") in output


def test_load_checkpoint_refuses_objects_other_than_plain_data(tiny_digits_run_config, tmp_path):
    trainer = prepare_trainer(tiny_digits_run_config)
    path = trainer.save_checkpoint(tmp_path)
    marker = tmp_path / "pwned"
    _plant(path, marker)
    with pytest.raises(CheckpointError, match="refused"):
        trainer.load_checkpoint(path)
    assert not marker.exists()


def test_checkpoints_are_plain_data(tiny_digits_run_config, tmp_path):
    trainer = prepare_trainer(tiny_digits_run_config)
    trainer.train_step()
    state = torch.load(trainer.save_checkpoint(tmp_path) / "trainer.pt", weights_only=True)
    assert state["step"] == 1 and isinstance(state["rng"]["torch"], torch.Tensor)


def test_checkpoint_identity_ignores_io_settings(tiny_digits_run_config, tmp_path):
    trainer = prepare_trainer(tiny_digits_run_config)
    for _ in range(2):
        trainer.train_step()
    checkpoint = trainer.save_checkpoint(tmp_path)
    io_only = copy.deepcopy(tiny_digits_run_config)
    io_only["train"].update(log_every=1, checkpoint_every=5, threads=torch.get_num_threads())
    io_only["eval"].update(batch_size=7, latency_repeats=3, latency_batch_size=2)
    resumed = prepare_trainer(io_only)
    resumed.load_checkpoint(checkpoint)
    assert resumed.step == 2

    changed = copy.deepcopy(tiny_digits_run_config)
    changed["train"]["seed"] = 5
    with pytest.raises(CheckpointError, match="different config"):
        prepare_trainer(changed).load_checkpoint(checkpoint)
