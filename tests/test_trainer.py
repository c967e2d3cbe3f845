"""The single-stage trainer: exact resume, budget and divergence errors, checkpoints, the digits run."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from alternas.api import prepare_trainer, train_alter
from alternas.exceptions import BudgetError, CheckpointError, TrainingDiverged
from alternas.optim import lr_factor
from alternas.plan import ExpertPlan


def _without_time(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_resume_from_checkpoint_is_bit_exact(tiny_digits_run_config, tmp_path):
    uninterrupted = prepare_trainer(tiny_digits_run_config)
    uninterrupted.fit()

    first = prepare_trainer(tiny_digits_run_config)
    for _ in range(3):
        first.train_step()
    checkpoint = first.save_checkpoint(tmp_path / "checkpoints")
    del first  # the process that wrote the checkpoint is gone

    resumed = prepare_trainer(tiny_digits_run_config)
    resumed.load_checkpoint(checkpoint)
    assert resumed.step == 3
    resumed.fit()

    for name, value in uninterrupted.student.state_dict().items():
        assert torch.equal(value, resumed.student.state_dict()[name]), name
    for name, value in uninterrupted.hypernet.state_dict().items():
        assert torch.equal(value, resumed.hypernet.state_dict()[name]), name
    assert torch.equal(uninterrupted.keep, resumed.keep)
    assert torch.equal(uninterrupted.assignment, resumed.assignment)
    after_resume = [row for row in _without_time(uninterrupted.history) if row["step"] > 3]
    assert after_resume == _without_time(resumed.history) and len(after_resume) == 2


def test_checkpoints_rotate_and_the_latest_is_found(tiny_digits_run_config, tmp_path):
    config = copy.deepcopy(tiny_digits_run_config)
    config["train"]["checkpoint_every"] = 2
    trainer = prepare_trainer(config)
    trainer.fit(checkpoint_dir=tmp_path)
    folders = sorted(p.name for p in tmp_path.glob("step-*"))
    assert folders == ["step-00000004", "step-00000006"]
    assert trainer.latest_checkpoint(tmp_path).name == "step-00000006"


def test_corrupted_or_foreign_checkpoint_is_a_clear_error(tiny_digits_run_config, tmp_path):
    trainer = prepare_trainer(tiny_digits_run_config)
    path = trainer.save_checkpoint(tmp_path)
    (path / "trainer.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupted"):
        trainer.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="missing trainer.pt"):
        trainer.load_checkpoint(tmp_path / "nowhere")
    other = copy.deepcopy(tiny_digits_run_config)
    other["train"]["lr"] = 0.5
    good = trainer.save_checkpoint(tmp_path / "good")
    with pytest.raises(CheckpointError, match="different config"):
        prepare_trainer(other).load_checkpoint(good)


def test_budget_below_fixed_cost_is_rejected_before_training(tiny_digits_run_config):
    config = copy.deepcopy(tiny_digits_run_config)
    config["budget"]["macs_share"] = 0.05
    with pytest.raises(BudgetError, match="`budget.macs_share` = 0.050 of dense MACs cannot be reached"):
        prepare_trainer(config)


def test_non_finite_loss_stops_the_run_with_its_reason(tiny_digits_run_config):
    trainer = prepare_trainer(tiny_digits_run_config)
    trainer.training_set.samples[:] = float("nan")
    with pytest.raises(TrainingDiverged, match="backbone loss became nan at step 0"):
        trainer.train_step()


def test_two_stage_schedule_freezes_the_backbone_while_searching(tiny_digits_run_config):
    config = copy.deepcopy(tiny_digits_run_config)
    config["train"]["schedule"] = "two_stage"
    trainer = prepare_trainer(config)
    before = {k: v.clone() for k, v in trainer.student.state_dict().items()}
    metrics = trainer.train_step()
    assert "loss_backbone" not in metrics and "loss_hypernet" in metrics
    assert all(torch.equal(v, trainer.student.state_dict()[k]) for k, v in before.items())


@pytest.mark.slow
def test_budget_target_eases_from_dense_to_the_budget_along_a_cubic(tiny_digits_run_config):
    config = copy.deepcopy(tiny_digits_run_config)
    config["budget"] = {"macs_share": 0.6, "warmup_share": 0.5}
    config["train"].update(steps=8, hypernet_steps=8, log_every=1)
    trainer = prepare_trainer(config)
    assert [trainer.budget_target(step) for step in (0, 2, 4, 6)] == pytest.approx([1.0, 0.65, 0.6, 0.6])
    history = trainer.fit()
    assert [row["macs_share_target"] for row in history] == pytest.approx(
        [trainer.budget_target(step) for step in range(8)]
    )  # logged at every step, beside the hard share the backbone trains with
    assert all("macs_share_hard" in row and "routing_intervals_max" in row for row in history)
    config["budget"]["warmup_share"] = 0.0
    assert prepare_trainer(config).budget_target(0) == 0.6


def test_a_rung_scores_the_table_settled_onto_the_budget_and_training_keeps_its_own(tiny_digits_run_config):
    """Mid-search the hard table is still near dense; :meth:`settled_keep` is that table settled onto the
    budget (what a successive-halving rung scores), and the table the backbone trains with is left alone."""
    config = copy.deepcopy(tiny_digits_run_config)
    config["budget"] = {"macs_share": 0.6, "tolerance": 0.05}
    trainer = prepare_trainer(config)
    trainer.train_step()
    training_table = trainer.keep.clone()
    assert trainer.hard_share() > 0.9  # one hypernetwork step has not shrunk it yet
    settled = trainer.settled_keep()
    assert abs(trainer.budget.hard_share(settled, trainer.assignment) - 0.6) <= 0.05
    assert torch.equal(trainer.keep, training_table)
    while trainer.hypernet_active:
        trainer.train_step()
    assert trainer.settled_keep() is trainer.keep  # once the search ended, the table is the settled one


def test_digits_learned_routing_meets_the_budget(tiny_digits_run_config, tmp_path):
    """4 learned experts at 50% of dense MACs: measured hard MACs within 3%, >1 expert used."""
    config = copy.deepcopy(tiny_digits_run_config)
    config["experts"] = {"count": 4, "routing": "learned"}
    config["budget"] = {"macs_share": 0.5}
    config["train"].update(steps=150, hypernet_steps=120, batch_size=16, log_every=1, checkpoint_every=50,
                           lr=1e-3, warmup_steps=10, hypernet_warmup_steps=10)
    config["eval"].update(num_samples=100, batch_size=100, steps=20)
    result = train_alter(config, run_dir=tmp_path / "run")

    searching = [row for row in result.history if "macs_share_target" in row]
    assert len(searching) == 120
    # the table the backbone trains with never falls more than budget.tolerance below its target
    assert min(row["macs_share_hard"] - row["macs_share_target"] for row in searching) >= -0.005 - 1e-9

    assert abs(result.plan.macs.share - 0.5) <= 0.005  # settled onto the budget (budget.tolerance)
    assert result.metrics.macs_share == pytest.approx(0.5, rel=0.03)  # measured while sampling
    assert result.metrics.macs_share == pytest.approx(result.plan.macs.share, rel=1e-9)
    assert result.plan.experts_in_use() > 1 and result.metrics.experts_in_use > 1
    assert max(result.plan.intervals_per_expert()) == 1  # temporal experts: one contiguous interval each
    assert result.metrics.routing_intervals_max == 1
    for key in ("fid", "accuracy", "psnr", "ssim", "teacher_fid", "teacher_accuracy", "latency_s",
                "teacher_latency_s", "speedup"):
        value = getattr(result.metrics, key)
        assert value is not None and value == value, key  # present, not NaN
    loaded = ExpertPlan.load(tmp_path / "run" / "plan.yaml")
    assert loaded.sampler.experts == result.plan.sampler.experts
    assert torch.equal(loaded.keep_matrix(), result.plan.keep_matrix())
    assert torch.equal(loaded.assignment()[result.plan.sampler.timesteps],
                       torch.tensor(result.plan.sampler.experts))
    assert (tmp_path / "run" / "backbone" / "diffusion_pytorch_model.safetensors").is_file()
    assert (tmp_path / "run" / "samples" / "experts.png").is_file()
    shown = json.loads((tmp_path / "run" / "samples" / "conditions.json").read_text())  # the grids' class labels
    assert shown[:12] == ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "1"]


def test_lr_factor_warms_up_holds_then_falls_over_the_last_decay_steps():
    linear = lr_factor(10, 100, "linear", 0.0, decay_steps=40)
    assert [linear(s) for s in (0, 9)] == [pytest.approx(0.1), pytest.approx(1.0)]
    assert [linear(s) for s in (10, 59, 60)] == [1.0, 1.0, 1.0]
    assert [linear(s) for s in (70, 80, 100)] == [pytest.approx(0.75), pytest.approx(0.5), 0.0]
    cosine = lr_factor(10, 100, "cosine", 0.05)
    assert cosine(10) == pytest.approx(1.0) and cosine(55) == pytest.approx(0.525) and cosine(100) == pytest.approx(0.05)
    assert lr_factor(10, 100, "constant", 0.0, decay_steps=40)(99) == 1.0
