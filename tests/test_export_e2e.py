"""End to end on real (tiny) ALTER runs: report a search-like run dir, export its winner and a static
trial, reload each export in a fresh process and check it generates exactly what the in-memory routed
model generates from the same noise."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import yaml
from diffusers import UNet2DConditionModel

from alternas.api import train_alter
from alternas.backbones import adapter_for
from alternas.sources import load_bundle
from alternas.config import RunConfig
from alternas.evaluation import ExpertRouter, generate, routed_predictor
from alternas.export import RoutedUNet2DConditionModel, export_experts
from alternas.gating import GateController
from alternas.plan import ExpertPlan
from alternas.report import write_report
from alternas.rundir import SearchRunDir, TrialRecord

pytestmark = pytest.mark.slow

LABELS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 5]


@pytest.fixture(scope="module")
def search_dir(tmp_path_factory, tiny_digits_run_config):
    """Two finished trials (learned routing over two experts; one static expert) and a failed one."""
    layout = SearchRunDir(tmp_path_factory.mktemp("search") / "run")
    trials = {
        "learned": {"experts": {"count": 2, "routing": "learned"}},
        "static": {"experts": {"count": 1, "routing": "static"}},
    }
    for seed, (trial_id, override) in enumerate(trials.items()):
        config = copy.deepcopy(tiny_digits_run_config)
        config.update(override)
        result = train_alter(config, run_dir=layout.trial_dir(trial_id))
        layout.write_record(
            TrialRecord(
                trial_id=trial_id,
                status="finished",
                seed=seed,
                feasible=True,
                metrics=result.metrics,
                params={"experts.routing": override["experts"]["routing"]},
            )
        )
    layout.write_record(
        TrialRecord(trial_id="failed", status="failed", seed=2, error="TrainingDiverged: nan")
    )
    layout.recipe_file.write_text(
        "report:\n  winner: fewest_macs_within_quality\n  quality_tolerance: 10.0\n"
    )
    return layout.root


def in_memory_images(trial_dir, noise: torch.Tensor) -> torch.Tensor:
    """The trial's fine-tuned backbone gated by its plan, sampled with alternas' evaluation sampler."""
    plan = ExpertPlan.load(trial_dir / "plan.yaml")
    config = RunConfig.model_validate(yaml.safe_load((trial_dir / "config.yaml").read_text()))
    bundle = load_bundle(config.model)
    backbone = UNet2DConditionModel.from_pretrained(trial_dir / "backbone").eval()
    adapter = adapter_for(backbone)
    units = {unit.name: unit for unit in adapter.discover_units()}
    gates = GateController(backbone, [units[name] for name in plan.unit_names])
    predict = routed_predictor(adapter, gates, ExpertRouter(plan.keep_matrix(), plan.routing_table()))
    return generate(
        predict,
        scheduler_name=plan.sampler.scheduler,
        train_scheduler_config=bundle.scheduler_config,
        steps=plan.sampler.steps,
        noise=noise,
        conditions=LABELS,
        conditioner=bundle.conditioner,
        guidance_scale=1.0,
        batch_size=len(noise),
    )


FRESH_PROCESS = textwrap.dedent("""
    import sys, torch, alternas
    export, noise_file, out_file = sys.argv[1:]
    pipeline = alternas.load_experts(export)
    noise, labels = torch.load(noise_file)
    images = pipeline(class_labels=labels, latents=noise, output_type="pt").images
    unet = pipeline.unet
    torch.save({"images": images, "unet": type(unet).__name__, "experts": unet.num_experts}, out_file)
    """)


def test_report_of_real_trials(search_dir):
    report = write_report(search_dir)
    assert report.winner.trial_id in {"learned", "static"} and report.winner.qualified
    assert {e.trial_id: e.role for e in report.entries}["failed"] == "failed"
    for entry in report.entries:
        if entry.status == "finished":
            assert entry.quality == entry.metrics.fid and entry.macs == entry.metrics.generation_macs
            assert f"training-{entry.trial_id}" in report.figures
    assert [t.steps for t in report.teachers] == [4]
    assert all(f"samples-{trial}" in report.figures for trial in report.front)


@pytest.mark.parametrize("trial", [None, "static"])
def test_export_reloads_in_a_fresh_process_and_matches_the_in_memory_routed_model(
    search_dir, tmp_path, trial
):
    out = tmp_path / "export"
    result = export_experts(search_dir, out, trial_id=trial)
    exported = result.trial_id
    assert trial is None or exported == trial
    assert (out / "experts.yaml").is_file() and (
        out / "unet" / "diffusion_pytorch_model.safetensors"
    ).is_file()
    plan = ExpertPlan.load(out / "experts.yaml")
    assert plan.provenance["trial"] == exported and plan.metrics.fid > 0
    assert len(plan.experts) == (1 if exported == "static" else 2)

    noise = torch.randn(len(LABELS), 1, 8, 8, generator=torch.Generator().manual_seed(11))
    torch.save((noise, LABELS), tmp_path / "noise.pt")
    empty_cache = tmp_path / "empty-cache"
    empty_cache.mkdir()
    env = {**os.environ, "ALTERNAS_CACHE": str(empty_cache), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(out), str(tmp_path / "noise.pt"), str(tmp_path / "out.pt")],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    fresh = torch.load(tmp_path / "out.pt")
    assert fresh["unet"] == RoutedUNet2DConditionModel.__name__ and fresh["experts"] == len(plan.experts)
    assert list(empty_cache.iterdir()) == []  # loading needed nothing but the export folder

    expected = in_memory_images(search_dir / "trials" / exported, noise)
    assert (fresh["images"] - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda config: config.update(_class_name=3), "`_class_name` holds an integer, expected a string"),
        (lambda config: config.update(in_channels="one"), "cannot load the fine-tuned backbone"),
    ],
)
def test_a_mistyped_trial_backbone_config_is_named_on_export(search_dir, tmp_path, capsys, damage, message):
    import json
    import shutil

    from .conftest import cli_output

    run = tmp_path / "run"
    shutil.copytree(search_dir, run)
    config_file = run / "trials" / "static" / "backbone" / "config.json"
    config = json.loads(config_file.read_text())
    damage(config)
    config_file.write_text(json.dumps(config))
    code, out = cli_output(capsys, "export", str(run), "--trial", "static", "--out", str(tmp_path / "export"))
    assert code == 2 and message in out and "Traceback" not in out, out
    assert str(config_file.parent) in out
    assert not (tmp_path / "export").exists()


def test_an_export_holds_no_path_of_the_exporting_machine(search_dir, tmp_path):
    out = tmp_path / "export"
    export_experts(search_dir, out, trial_id="static")
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".md", ".txt"):
            text = path.read_text()
            for local in (str(search_dir.resolve()), str(tmp_path.resolve()), str(os.path.expanduser("~"))):
                assert local not in text, (path, local)
    readme = (out / "README.md").read_text()
    assert 'EXPORT = "path/to/this/folder"' in readme and "alternas.load_experts(EXPORT)" in readme
