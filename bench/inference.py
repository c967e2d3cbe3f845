"""Inference benchmarks: exported routed models against the dense model, measured side by side.

:func:`bench_export`: sampling time at the same steps and batch size, beside the ideal.

For each backbone size, a plan of ``experts`` experts (each keeping a random subset of the prunable
units worth about ``keep_share`` of the dense MACs, routed over equal timestep intervals) is exported
with alternas' exporter, loaded back from disk, and timed against the dense backbone with the same
weights: full DDIM sampling loops, calls alternating between the two, medians. The ideal speedup is
dense generation MACs / routed generation MACs; the routed MACs are also counted on the loaded model
to show that skipped units really do not run.

With ``--device cuda`` the same comparison runs on a GPU in half precision, by default on the real
SD 2.1 UNet (865M parameters, 4x96x96 latents, 77 text tokens) and DiT-XL/2 (675M, 4x32x32) configs
of ``recipes/configs/`` with random weights (timing needs no trained weights).

:func:`bench_winner_vs_dense` (the paper's 3.64x comparison): a search's winner, exported and loaded
back, at its own sampler steps against the dense teacher at 50 steps (and at the winner's steps).

    python -m bench.inference [--quick] [--threads N]
    python -m bench.inference --device cuda [--dtype float16] [--models sd21,dit-xl2] [--keep-share 0.5]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from alternas.backbones import adapter_for, build_backbone
from alternas.sources import load_bundle
from alternas.config import RunConfig
from alternas.evaluation import denoise, dense_predictor, make_scheduler, measure_latencies
from alternas.export import export_experts, export_plan, generate_images, load_experts, plan_from_masks
from alternas.macs import count_macs, profile_costs
from alternas.report import build_report
from alternas.routing import manual_assignment
from alternas.zoo.digits import DigitsTeacherConfig

__all__ = ["MODELS", "bench_export", "bench_winner_vs_dense"]

SCHEDULE = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}

CONFIGS = Path(__file__).resolve().parent.parent / "recipes" / "configs"


@dataclass(frozen=True)
class BenchModel:
    """A backbone to time: its diffusers class and config, and its condition's text tokens."""

    class_name: str
    config: dict[str, Any] = field(hash=False)
    tokens: int = 8  # cross-attention tokens of the condition (ignored by label-conditioned models)

    @classmethod
    def from_file(cls, name: str, tokens: int) -> BenchModel:
        """A published config of ``recipes/configs/`` (its ``_class_name`` names the class)."""
        config = json.loads((CONFIGS / name).read_text())
        return cls(config.pop("_class_name"), config, tokens)


#: backbones to time, by name
MODELS: dict[str, BenchModel] = {
    "digits": BenchModel("UNet2DConditionModel", DigitsTeacherConfig().unet_config()),  # the built-in default
    "sd-mini": BenchModel(  # an SD 1.x-shaped UNet scaled down to 4x32x32 latents
        "UNet2DConditionModel",
        {
            "sample_size": 32,
            "in_channels": 4,
            "out_channels": 4,
            "block_out_channels": [64, 128, 256],
            "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            "layers_per_block": 2,
            "cross_attention_dim": 128,
            "attention_head_dim": 8,
            "norm_num_groups": 32,
        },
    ),
    "sd21": BenchModel.from_file("sd21-unet.json", tokens=77),  # Stable Diffusion 2.1 at 768 px
    "dit-xl2": BenchModel.from_file("dit-xl2.json", tokens=0),  # DiT-XL/2 at 256 px
}
#: models and batch sizes timed by default, on the CPU (quick / full) and on a GPU
CPU_CASES = {"digits": ([1, 64], [1, 64, 256]), "sd-mini": ([4], [1, 8])}
GPU_CASES = {"sd21": [1, 2, 8, 16], "dit-xl2": [1, 8, 32]}


def _experts(model: torch.nn.Module, count: int, keep_share: float, seed: int, tokens: int) -> torch.Tensor:
    """``count`` experts, each dropping random units until its MACs would fall below ``keep_share``."""
    adapter = adapter_for(model)
    units = adapter.discover_units()
    costs = profile_costs(adapter, units, condition_length=tokens)
    generator = torch.Generator().manual_seed(seed)
    keep = torch.ones(count, len(units))
    for expert in range(count):
        for index in torch.randperm(len(units), generator=generator).tolist():
            keep[expert, index] = 0.0
            if float(costs.share(keep[expert])) < keep_share:
                keep[expert, index] = 1.0
    return keep


def _case(
    name: str,
    batch_sizes: list[int],
    steps: int,
    repeats: int,
    experts: int,
    keep_share: float,
    work: Path,
    device: torch.device,
    dtype: torch.dtype,
) -> list[dict[str, Any]]:
    spec = MODELS[name]
    torch.manual_seed(0)
    dense = build_backbone(spec.class_name, spec.config).to(device, dtype).eval()
    keep = _experts(dense, experts, keep_share, seed=0, tokens=spec.tokens)
    plan = plan_from_masks(
        dense,
        keep,
        manual_assignment(experts, 1000),
        scheduler_config=SCHEDULE,
        steps=steps,
        condition_length=spec.tokens,
    )
    dense.save_pretrained(work / name / "backbone")
    config = RunConfig.model_validate({"model": {"backbone": str(work / name / "backbone")}})
    export_plan(plan, work / name / "backbone", config, work / name / "export")
    routed = load_experts(work / name / "export", device=device, torch_dtype=dtype)
    sample_shape = adapter_for(dense).sample_shape

    def sampler(model: torch.nn.Module, batch: int) -> Callable[[], None]:
        adapter = adapter_for(model)
        noise = torch.randn(batch, *sample_shape, generator=torch.Generator().manual_seed(1)).to(device, dtype)
        condition = {
            key: value.to(dtype) if value.is_floating_point() else value
            for key, value in adapter.example_condition(batch, spec.tokens).items()
        }
        predict = dense_predictor(adapter)
        return lambda: denoise(predict, make_scheduler("ddim", SCHEDULE), noise, condition, None, 1.0, steps)

    with torch.inference_mode():
        counted, _ = count_macs(sampler(routed, 1))  # one sample, whole sampling loop
    results = []
    for batch in batch_sizes:
        with torch.inference_mode():
            seconds = measure_latencies(
                {"dense": sampler(dense, batch), "routed": sampler(routed, batch)},
                repeats,
                synchronize=device.type == "cuda",
            )
        ideal = plan.macs.dense_generation_total / plan.macs.generation_total
        speedup = seconds["dense"] / seconds["routed"]
        results.append(
            {
                "model": name,
                "device": str(device),
                "dtype": str(dtype).removeprefix("torch."),
                "params_m": sum(p.numel() for p in dense.parameters()) / 1e6,
                "sample_shape": list(sample_shape),
                "units": len(plan.units),
                "experts": experts,
                "batch_size": batch,
                "steps": steps,
                "dense_gmacs_per_image": plan.macs.dense_generation_total / 1e9,
                "routed_gmacs_per_image": plan.macs.generation_total / 1e9,
                "routed_gmacs_counted": counted / 1e9,
                "dense_s": seconds["dense"],
                "routed_s": seconds["routed"],
                "speedup": speedup,
                "ideal_speedup": ideal,
                "fraction_of_ideal": speedup / ideal,
            }
        )
    return results


def bench_export(
    quick: bool = False,
    threads: int | None = None,
    experts: int = 4,
    keep_share: float = 0.5,
    steps: int = 10,
    device: str = "cpu",
    dtype: str = "float32",
    models: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Time exported routed models against their dense backbones.

    Args:
        quick: fewer repeats and batch sizes (a smoke run).
        threads: torch CPU threads (default: torch's default).
        experts: experts per plan.
        keep_share: MACs per step each expert keeps, as a share of the dense model.
        steps: DDIM sampler steps.
        device: where both models run (``"cpu"``, ``"cuda"``).
        dtype: their weights' and inputs' dtype (``"float32"``, ``"float16"``, ``"bfloat16"``).
        models: model name -> batch sizes; default :data:`CPU_CASES` or, on a GPU, :data:`GPU_CASES`.

    Returns:
        ``{"threads", "device", "cases": [{model, batch_size, dense_s, routed_s, speedup, ideal_speedup,
        fraction_of_ideal, ...}]}``; seconds are one full sampling loop of the batch.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    target = torch.device(device)
    repeats = 2 if quick else 3
    if models is None:
        if target.type == "cpu":
            models = {name: sizes[0] if quick else sizes[1] for name, sizes in CPU_CASES.items()}
        else:
            models = {name: sizes[:2] if quick else sizes for name, sizes in GPU_CASES.items()}
    with tempfile.TemporaryDirectory() as work:
        cases = [
            row
            for name, batch_sizes in models.items()
            for row in _case(
                name, batch_sizes, steps, repeats, experts, keep_share, Path(work), target, getattr(torch, dtype)
            )
        ]
    gpu = torch.cuda.get_device_name(target) if target.type == "cuda" else None
    return {"threads": torch.get_num_threads(), "device": gpu or device, "keep_share": keep_share, "cases": cases}


def bench_winner_vs_dense(
    run_dir: str | Path, dense_steps: int = 50, batch_size: int = 16, repeats: int = 3
) -> dict[str, Any]:
    """Total-generation speedup of a search's winner against the dense teacher at ``dense_steps``.

    The winner (the run's report rule) is exported and loaded back; the dense pipeline is the same
    pipeline with the teacher backbone in place of the routed one. Both generate ``batch_size``
    images from the same seed; calls alternate and medians are reported.

    Returns:
        The winner's id, steps, quality and MACs, the ideal ratios (dense MACs at ``dense_steps`` or
        at the winner's steps over the winner's generation MACs) and the measured ones.
    """
    report = build_report(run_dir)
    winner = report.winner_entry
    if winner is None or winner.config is None:
        raise RuntimeError(f"{run_dir}: the search has no winner to compare ({report.winner.message})")
    metrics = winner.metrics
    steps = metrics.steps
    with tempfile.TemporaryDirectory() as work:
        export_experts(run_dir, Path(work) / "export", trial_id=winner.trial_id)
        routed = load_experts(Path(work) / "export")
        dense = load_experts(Path(work) / "export")
        dense.unet = load_bundle(winner.config.model).backbone.eval()
        labels = [index % routed.num_classes for index in range(batch_size)]

        def sampler(pipeline: Any, count: int) -> Callable[[], None]:
            return lambda: generate_images(
                pipeline, labels, steps=count, guidance_scale=1.0, seed=0, batch_size=batch_size
            )

        seconds = measure_latencies(
            {
                "winner": sampler(routed, steps),
                "dense_same_steps": sampler(dense, steps),
                f"dense_{dense_steps}_steps": sampler(dense, dense_steps),
            },
            repeats,
        )
    per_step = metrics.teacher_macs_per_step
    generation = metrics.generation_macs
    return {
        "trial_id": winner.trial_id,
        "winner_reason": report.winner.message,
        "params": winner.params,
        "steps": steps,
        "dense_steps": dense_steps,
        "batch_size": batch_size,
        "quality_metric": report.config.quality_metric,
        "quality": winner.quality,
        "teacher_quality_same_steps": metrics.teacher_quality(report.config.quality_metric),
        "macs_share": metrics.macs_share,
        "generation_gmacs": generation / 1e9,
        "dense_generation_gmacs_at_dense_steps": per_step * dense_steps / 1e9,
        "seconds": seconds,
        "ideal_speedup_vs_dense_steps": per_step * dense_steps / generation,
        "speedup_vs_dense_steps": seconds[f"dense_{dense_steps}_steps"] / seconds["winner"],
        "ideal_speedup_same_steps": per_step * steps / generation,
        "speedup_same_steps": seconds["dense_same_steps"] / seconds["winner"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and batch sizes")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default=None, help="float32 (CPU default), float16 (GPU default) or bfloat16")
    parser.add_argument("--models", default=None, help=f"comma-separated, from {', '.join(MODELS)}")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated batch sizes for --models")
    parser.add_argument("--keep-share", type=float, default=0.5, help="MACs per step each expert keeps")
    parser.add_argument("--steps", type=int, default=10, help="DDIM sampler steps")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args()
    models = None
    if args.models:
        unknown = sorted(set(args.models.split(",")) - set(MODELS))
        if unknown:
            parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
        sizes = [int(size) for size in (args.batch_sizes or "1").split(",")]
        models = {name: sizes for name in args.models.split(",")}
    dtype = args.dtype or ("float32" if args.device == "cpu" else "float16")
    result = bench_export(
        quick=args.quick,
        threads=args.threads,
        keep_share=args.keep_share,
        steps=args.steps,
        device=args.device,
        dtype=dtype,
        models=models,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return
    where = result["device"] if args.device != "cpu" else f"{result['threads']} CPU thread(s)"
    print(
        f"exported routed model ({result['keep_share']:.2f} of dense MACs per step) vs dense, "
        f"{args.steps}-step DDIM sampling loop, {where}, {dtype}, medians"
    )
    columns = ("model", "params", "sample", "batch", "dense s", "routed s", "speedup", "ideal", "of ideal")
    widths = (8, 7, 8, 5, 8, 8, 7, 6, 8)
    print(" ".join(f"{c:{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(columns, widths))))
    for row in result["cases"]:
        shape = "x".join(str(s) for s in row["sample_shape"])
        print(
            f"{row['model']:8} {row['params_m']:6.2f}M {shape:>8} {row['batch_size']:5d} {row['dense_s']:8.3f} "
            f"{row['routed_s']:8.3f} {row['speedup']:6.2f}x {row['ideal_speedup']:5.2f}x "
            f"{row['fraction_of_ideal']:8.2f}"
        )
    per_model = {row["model"]: row for row in result["cases"]}
    for name, row in per_model.items():
        print(
            f"{name}: routed MACs per image planned {row['routed_gmacs_per_image']:.4g} G, counted on the loaded "
            f"export {row['routed_gmacs_counted']:.4g} G (dense {row['dense_gmacs_per_image']:.4g} G)"
        )


if __name__ == "__main__":
    main()
