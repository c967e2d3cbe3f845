"""Shared fixtures: tiny backbones of every supported kind, a hermetic cache, a tiny digits bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
import torch
from diffusers import DiTTransformer2DModel, UNet2DConditionModel, UNet2DModel

ROOT = Path(__file__).resolve().parents[1]
#: a training noise schedule for plans and samplers built in tests
SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}

# Keep the suite fast and deterministic on 2 cores.
torch.set_num_threads(min(2, torch.get_num_threads()))


def tiny_unet_condition(**overrides) -> UNet2DConditionModel:
    """SD-style UNet: cross-attention down/up blocks, mid block with attention (16 units by default).

    ``overrides`` replace config entries (e.g. ``in_channels=4, out_channels=4`` for SD-style latents).
    """
    torch.manual_seed(0)
    config = {
        "sample_size": 8,
        "in_channels": 1,
        "out_channels": 1,
        "block_out_channels": (16, 32),
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "layers_per_block": 2,
        "cross_attention_dim": 32,
        "attention_head_dim": 2,
        "norm_num_groups": 8,
    }
    return UNet2DConditionModel(**{**config, **overrides}).eval()


def tiny_unet() -> UNet2DModel:
    """Class-conditional UNet2DModel with residual self-attention blocks."""
    torch.manual_seed(0)
    return UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32),
        down_block_types=("AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D"),
        layers_per_block=2,
        attention_head_dim=8,
        norm_num_groups=8,
        num_class_embeds=10,
    ).eval()


def tiny_dit(num_classes: int = 10) -> DiTTransformer2DModel:
    """DiT with 4 adaLN-Zero blocks, learned sigma (out_channels = 2 x in_channels).

    ``num_classes`` is ``num_embeds_ada_norm`` (DiTPipeline uses class 1000 as the null class, so
    pipelines need 1000).
    """
    torch.manual_seed(0)
    return DiTTransformer2DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=8,
        num_layers=4,
        sample_size=8,
        patch_size=2,
        num_embeds_ada_norm=num_classes,
        norm_num_groups=4,
    ).eval()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the ``alternas`` entry point in-process: ``(exit code, stdout, stderr)``, each with its
    whitespace collapsed so that wrapped lines read as one."""
    from alternas.cli import main

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["alternas", *args])
        with pytest.raises(SystemExit) as exit_info:
            main()
    out, err = capsys.readouterr()
    return exit_info.value.code, " ".join(out.split()), " ".join(err.split())


def cli_output(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Like :func:`run_cli`, with stdout and stderr together: ``(exit code, output)``."""
    code, out, err = run_cli(capsys, *args)
    return code, f"{out} {err}".strip()


def sd21_unet_config() -> dict:
    """SD 2.1's published UNet config as shipped in ``recipes/configs/sd21-unet.json`` (96x96 latents)."""
    return json.loads((ROOT / "recipes" / "configs" / "sd21-unet.json").read_text())


def model_inputs(adapter, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Seeded ``(sample (B, C, H, W), timesteps (B,), condition kwargs)`` for a backbone adapter, ``B <= 4``."""
    generator = torch.Generator().manual_seed(1)
    sample = torch.randn((batch, *adapter.sample_shape), generator=generator)
    timesteps = torch.tensor([1, 250, 500, 999][:batch])
    condition = adapter.example_condition(batch, 3)
    for key, value in condition.items():
        if value.is_floating_point():
            condition[key] = torch.randn(value.shape, generator=generator)
        else:
            condition[key] = torch.arange(batch) % 10
    return sample, timesteps, condition


BACKBONE_FACTORIES = {
    "unet_condition": tiny_unet_condition,
    "unet": tiny_unet,
    "dit": tiny_dit,
}


@pytest.fixture(params=sorted(BACKBONE_FACTORIES))
def backbone(request) -> torch.nn.Module:
    """Each tiny backbone kind in turn."""
    return BACKBONE_FACTORIES[request.param]()


@pytest.fixture(autouse=True, scope="session")
def hermetic_cache(tmp_path_factory) -> Path:
    """Point alternas' cache at a fresh folder (teachers, classifiers, references)."""
    root = tmp_path_factory.mktemp("alternas-cache")
    os.environ["ALTERNAS_CACHE"] = str(root)
    return root


#: a digits teacher that pretrains in seconds: tests check mechanics, not image quality
TINY_TEACHER = {"pretrain_steps": 60, "batch_size": 32}


@pytest.fixture(scope="session")
def tiny_digits_run_config() -> dict:
    """A RunConfig dict on the built-in digits with a seconds-long teacher and short training."""
    return {
        "model": {"backbone": "builtin:digits", "builtin": dict(TINY_TEACHER)},
        "experts": {"count": 2, "routing": "learned"},
        "budget": {"macs_share": 0.6},
        "train": {
            "steps": 6,
            "hypernet_steps": 4,
            "batch_size": 8,
            "log_every": 2,
            "checkpoint_every": 3,
            "warmup_steps": 2,
            "hypernet_warmup_steps": 2,
        },
        "eval": {"num_samples": 20, "batch_size": 20, "steps": 4, "latency_repeats": 1, "latency_batch_size": 4},
    }


def tiny_recipe(tmp_path: Path, **overrides) -> dict:
    """A small recipe mapping on the digits (tiny teacher, seconds-long trials). Its dense baseline is
    measured with DDIM only: every search start would otherwise score the teacher under every sampler
    (tests/test_baseline.py covers that default)."""
    recipe = {
        "name": "tiny",
        "output_dir": str(tmp_path / "run"),
        "model": {"backbone": "builtin:digits", "builtin": dict(TINY_TEACHER)},
        "space": {
            "experts": {"counts": [1, 2, 3], "partitions": ["learned", "manual", "static"]},
            "budget": {"macs_share": [0.6, 0.8]},
        },
        "train": {"steps": 6, "hypernet_steps": 4, "batch_size": 8, "log_every": 2, "checkpoint_every": 3,
                  "warmup_steps": 2, "hypernet_warmup_steps": 2},
        "eval": {"num_samples": 20, "batch_size": 20, "steps": 4, "latency_repeats": 1, "latency_batch_size": 4},
        "search": {"num_trials": 4, "population_size": 2, "max_concurrent_trials": 2, "cpus_per_trial": 1},
        "report": {"baseline": {"samplers": ["ddim"]}},
    }
    for key, value in overrides.items():
        recipe[key] = value
    return recipe


def one_trained_trial(root: Path, run_config: dict, trial_id: str):
    """``(layout, result)``: a search run dir at ``root`` with one finished trial, really trained from
    ``run_config``, and a report section whose 10x tolerance lets it qualify."""
    from alternas.api import train_alter
    from alternas.rundir import SearchRunDir, TrialRecord

    layout = SearchRunDir(root)
    result = train_alter(run_config, run_dir=layout.trial_dir(trial_id))
    layout.write_record(TrialRecord(trial_id=trial_id, status="finished", seed=0, feasible=True, metrics=result.metrics))
    layout.recipe_file.write_text("report:\n  quality_tolerance: 10.0\n")
    return layout, result


REPORT_TEACHER = {"teacher_fid": 10.0, "teacher_accuracy": 0.9, "teacher_latency_s": 2.0}

#: trial id -> (share of the prunable units kept, fid, accuracy, feasible); teacher FID 10
REPORT_TRIALS = {
    "a": (1.0, 10.0, 0.90, True),
    "b": (0.5, 11.0, 0.88, True),
    "c": (0.0, 14.0, 0.70, True),
    "d": (0.75, 13.0, 0.80, True),  # dominated by b: more MACs, worse FID
    "e": (0.25, 10.5, 0.90, False),  # would dominate b, but infeasible
}


def fabricate_run(root: Path, trials=REPORT_TRIALS, steps: int = 10, report: dict | None = None):
    """A search run directory (a :class:`~alternas.rundir.SearchRunDir`) whose finished trials have real
    plans (measured on the tiny UNet) and the given quality numbers, a failed and a running trial."""
    import yaml

    from alternas.config import RunConfig
    from alternas.export import plan_from_masks
    from alternas.images import save_image_grid
    from alternas.routing import manual_assignment
    from alternas.rundir import SearchRunDir, TrialRecord

    layout = SearchRunDir(root)
    root.mkdir(parents=True, exist_ok=True)
    layout.recipe_file.write_text(yaml.safe_dump({"report": report or {"quality_tolerance": 0.15}}))
    model = tiny_unet_condition()
    generator = torch.Generator().manual_seed(0)
    for seed, (trial_id, (kept, fid, accuracy, feasible)) in enumerate(trials.items()):
        keep = torch.zeros(2, 16)  # tiny_unet_condition has 16 prunable units
        keep[:, : round(kept * 16)] = 1.0
        plan = plan_from_masks(
            model, keep, manual_assignment(2, 1000), scheduler_config=SCHEDULE, steps=steps
        )
        metrics = {
            "fid": fid,
            "accuracy": accuracy,
            "macs_per_step": plan.macs.mean_per_step,
            "macs_share": plan.macs.share,
            "generation_macs": plan.macs.generation_total,
            "latency_s": REPORT_TEACHER["teacher_latency_s"] * (0.2 + 0.8 * plan.macs.share),
            "experts_in_use": 2,
            **REPORT_TEACHER,
            "teacher_macs_per_step": plan.macs.dense_per_step,
            "teacher_generation_macs": plan.macs.dense_generation_total,
            "speedup": 1 / (0.2 + 0.8 * plan.macs.share),
            "ideal_speedup": 1 / plan.macs.share,
            "steps": steps,
            "scheduler": "ddim",
            "guidance_scale": 1.0,
            "num_samples": 100,
            "latency_batch_size": 16,
            "target_macs_share": 0.6,
        }
        directory = layout.trial_dir(trial_id)
        plan.save(directory / "plan.yaml")
        history = [
            {
                "step": s,
                "loss_backbone": 1.0 / s,
                "loss_ratio": 0.5 / s,
                "macs_share_soft": 1 - s / 40,
                "macs_share_hard": 1 - s / 45,
            }
            for s in range(1, 21)
        ]
        (directory / "history.json").write_text(json.dumps(history))
        config = RunConfig.model_validate({"train": {"seed": seed}, "eval": {"steps": steps}})
        (directory / "config.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
        images = torch.rand(16, 1, 8, 8, generator=generator)
        save_image_grid(images, directory / "samples" / "experts.png", 4, 8)
        save_image_grid(images.flip(0), directory / "samples" / "teacher.png", 4, 8)
        layout.write_record(
            TrialRecord(
                trial_id=trial_id,
                status="finished",
                seed=seed,
                feasible=feasible,
                metrics=metrics,
                params={"budget.macs_share": kept},
            )
        )
    layout.write_record(
        TrialRecord(
            trial_id="f", status="failed", seed=9, error="Traceback ...\nTrainingDiverged: loss is nan"
        )
    )
    layout.write_record(TrialRecord(trial_id="g", status="running", seed=10))
    return layout


# Ray search subprocesses (tests/test_search.py, tests/test_cluster_security.py)

#: the ``alternas`` console script of this environment
ALTERNAS = str(Path(sys.executable).with_name("alternas"))


def process_alive(process: psutil.Process) -> bool:
    """Whether ``process`` still runs (a zombie does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class RayProcesses:
    """Records the Ray processes descending from ``pid`` while it runs (a background thread)."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.seen: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> RayProcesses:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                for child in self.root.children(recursive=True):
                    if child.pid not in self.seen and _is_ray(child):
                        self.seen[child.pid] = child
            except psutil.NoSuchProcess:
                return
            time.sleep(0.2)

    def assert_all_gone(self, within_s: float = 20.0) -> None:
        assert self.seen, "the search started no Ray process"
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            alive = [p for p in self.seen.values() if process_alive(p)]
            if not alive:
                return
            time.sleep(0.5)
        pytest.fail(f"Ray processes survived: {[(p.pid, p.cmdline()) for p in alive]}")


def _is_ray(process: psutil.Process) -> bool:
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return command.startswith("ray::") or "/ray/" in command


def marked_ray_processes(marker: str) -> list[int]:
    """GCS and raylet processes (whose environment stays readable) carrying ``ALTERNAS_TEST_MARK``."""
    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] in ("gcs_server", "raylet") and process_alive(process):
                if process.environ().get("ALTERNAS_TEST_MARK") == marker:
                    found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def start_search(recipe_file: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """``alternas search`` in a subprocess; returns it and the marker its Ray processes inherit."""
    marker = uuid.uuid4().hex
    env = {**os.environ, "ALTERNAS_TEST_MARK": marker, "COLUMNS": "200"}
    process = subprocess.Popen([ALTERNAS, "search", str(recipe_file), "--no-report", *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, marker


def wait_for(condition, timeout_s: float, process: subprocess.Popen | None = None) -> None:
    """Poll ``condition()`` every 0.5 s until it holds; fail the test after ``timeout_s`` seconds, or at
    once when ``process`` (a search) exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"the search exited early ({process.returncode}): {process.communicate()}")
        time.sleep(0.5)
    pytest.fail("timed out waiting for the search")
