"""Artefact writes are atomic and durable: concurrent writers, failed writers and a full disk; a damaged
cache entry is rebuilt."""

from __future__ import annotations

import builtins
import errno
import io
import logging
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from alternas.config import RunConfig
from alternas.evaluation import reference
from alternas.evaluation.evaluate import QualityScores
from alternas.exceptions import StorageError
from alternas.rundir import SearchRunDir, TrialRecord
from alternas.search.storage import atomic_local_filesystem


def test_concurrent_trials_share_the_teacher_reference_cache(tmp_path, monkeypatch):
    """Two trials finishing together both ask for the teacher reference: neither fails, it is computed
    once (the second waits on the lock and reads the first's file), and no temp file is left."""
    real_save = torch.save
    generated: list[int] = []

    def generate(*args, **kwargs):
        generated.append(1)
        time.sleep(0.3)  # the other trial arrives while this one computes
        return torch.ones(2, 1, 4, 4)

    def slow_save(obj, file, *args, **kwargs):
        real_save(obj, file, *args, **kwargs)
        time.sleep(0.3)  # widen the window between writing the temp file and renaming it

    monkeypatch.setattr(reference, "generate_for_eval", generate)
    monkeypatch.setattr(reference, "quality_scores", lambda metrics, images, conditions: QualityScores({"psnr": 1.0}))
    monkeypatch.setattr(torch, "save", slow_save)
    bundle = SimpleNamespace(source=str(tmp_path))
    inputs = SimpleNamespace(noise=torch.zeros(2, 1, 4, 4), conditions=[0, 1], metrics=[])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            images, quality = reference.teacher_reference(bundle, RunConfig(), None, inputs)
            assert quality.values == {"psnr": 1.0} and images.shape == (2, 1, 4, 4)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(generated) == 1
    references = reference.cache_root() / "references"
    cached = [path for path in references.iterdir() if path.suffix == ".pt"]
    assert not [path for path in references.iterdir() if path.name.endswith(".tmp")]
    assert any(torch.load(path, weights_only=True)["quality"] == {"psnr": 1.0} for path in cached)


def _fill_disk(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """From now on any file opened for writing in ``folder`` fails with ENOSPC once created, as a
    write on a full disk does."""
    real_open = builtins.open

    def open_on_full_disk(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        if any(flag in mode for flag in "wax+") and Path(file).parent == folder:
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        return handle

    monkeypatch.setattr(builtins, "open", open_on_full_disk)
    monkeypatch.setattr(io, "open", open_on_full_disk)


def test_disk_full_keeps_the_old_file_and_leaves_no_temp_file(tmp_path, monkeypatch):
    layout = SearchRunDir(tmp_path)
    layout.write_record(TrialRecord(trial_id="t1", status="running", seed=0))
    full_disk = layout.trial_dir("t1")
    old = (full_disk / "trial.json").read_text()
    _fill_disk(monkeypatch, full_disk)

    with pytest.raises(StorageError, match="disk is full") as error:
        layout.write_record(TrialRecord(trial_id="t1", status="finished", seed=0))

    assert str(full_disk / "trial.json") in str(error.value) and error.value.exit_code == 2
    assert (full_disk / "trial.json").read_text() == old
    assert sorted(path.name for path in full_disk.iterdir()) == ["trial.json"]


def test_a_failed_tune_write_keeps_the_previous_file(tmp_path):
    filesystem = atomic_local_filesystem()
    path = tmp_path / "experiment_state.json"
    with filesystem.open_output_stream(str(path)) as stream:
        stream.write(b"complete")
    with pytest.raises(ValueError), filesystem.open_output_stream(str(path)) as stream:
        stream.write(b"half")
        raise ValueError("the writer failed")
    assert path.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(tiny_digits_run_config, tmp_path, monkeypatch):
    from alternas.api import prepare_trainer

    trainer = prepare_trainer(tiny_digits_run_config)
    first = trainer.save_checkpoint(tmp_path)
    before = (first / "trainer.pt").read_bytes()

    def full(obj, file, *args, **kwargs):
        Path(file).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(StorageError, match="disk is full"):
        trainer.save_checkpoint(tmp_path)  # same step: it would replace the first one
    assert (first / "trainer.pt").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [first.name]


def test_a_failed_report_keeps_the_previous_figures(tmp_path, monkeypatch):
    from alternas.report import write as report_write
    from alternas.report import write_report

    from .conftest import fabricate_run

    root = fabricate_run(tmp_path / "run").root
    write_report(root)
    before = {path.name: path.read_bytes() for path in (root / "figures").glob("*.png")}
    assert before

    def full_disk(report, directory):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_write, "write_figures", full_disk)
    with pytest.raises(OSError):
        write_report(root)
    assert {path.name: path.read_bytes() for path in (root / "figures").glob("*.png")} == before


@pytest.mark.parametrize("damaged", ["unet/diffusion_pytorch_model.safetensors", "label_encoder/config.json"])
def test_a_damaged_cached_teacher_is_pretrained_again_to_the_same_weights(tmp_path, monkeypatch, caplog, damaged):
    from alternas.zoo.digits import DigitsTeacherConfig, digits_teacher_dir, load_digits_bundle

    monkeypatch.setenv("ALTERNAS_CACHE", str(tmp_path))
    config = DigitsTeacherConfig.from_options({"pretrain_steps": 20, "batch_size": 8})
    first = {key: value.clone() for key, value in load_digits_bundle(config).backbone.state_dict().items()}
    path = digits_teacher_dir(config) / damaged
    torn = path.with_name("torn")  # a new file: the loaded model may still map the old one's pages
    torn.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    torn.replace(path)
    with caplog.at_level(logging.WARNING, logger="alternas"):
        again = load_digits_bundle(config).backbone.state_dict()
    assert f"the cached digits teacher in {digits_teacher_dir(config)} does not load" in caplog.text
    assert all(torch.equal(again[key], value) for key, value in first.items())  # pretraining is seeded
    assert path.stat().st_size > 0 and not list(tmp_path.glob("teachers/.*"))  # no staging folder left


def test_a_damaged_cached_classifier_is_trained_again_to_the_same_weights(tmp_path, monkeypatch, caplog):
    from alternas.zoo.digits_classifier import load_digits_classifier

    monkeypatch.setenv("ALTERNAS_CACHE", str(tmp_path))
    first = {key: value.clone() for key, value in load_digits_classifier(seed=1, epochs=2).state_dict().items()}
    (weights,) = tmp_path.glob("classifiers/digits-*/model.pt")
    torn = weights.with_name("torn")
    torn.write_bytes(weights.read_bytes()[:100])
    torn.replace(weights)
    with caplog.at_level(logging.WARNING, logger="alternas"):
        again = load_digits_classifier(seed=1, epochs=2).state_dict()
    assert f"the cached digits classifier in {weights.parent} does not load" in caplog.text
    assert all(torch.equal(again[key], value) for key, value in first.items())  # training is seeded
