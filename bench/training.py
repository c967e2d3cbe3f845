"""Training-cost benchmark of the ALTER engine, measured side by side in one process.

(a) one ALTER iteration (teacher pass + hard backbone step + hypernetwork step) against one plain
    distillation fine-tuning iteration of the dense backbone (teacher pass + dense student step, same
    losses and optimiser);
(b) one backbone step with hard per-sample masks at ~25/50/75% kept MACs against the same step at
    100% (all units kept).

Before timing, the hypernetwork is trained for ``search_steps`` iterations towards a 50% budget so
(a) runs at the working point the paper cares about. Timings alternate between the variants and
report medians, so machine noise hits both alike.

    python -m bench.training [--batch-size 128] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch

from alternas.api import prepare_trainer
from alternas.evaluation import measure_latencies
from alternas.trainer import AlterTrainer

__all__ = ["bench_training", "digits_bench_config"]


def digits_bench_config(batch_size: int, steps: int, budget: float = 0.5) -> dict[str, Any]:
    """The built-in digits run the benchmark trains (4 learned experts)."""
    return {
        "experts": {"count": 4, "routing": "learned"},
        "budget": {"macs_share": budget},
        "train": {
            "steps": steps + 10_000,
            "hypernet_steps": steps + 10_000,
            "batch_size": batch_size,
            "lr": 1e-3,
            "hypernet_lr": 5e-3,
            "warmup_steps": 10,
            "hypernet_warmup_steps": 10,
        },
    }


def _distillation_step(trainer: AlterTrainer) -> None:
    """Plain dense distillation fine-tuning: teacher pass, dense student step, same loss/optimiser."""
    generator = trainer._generator(trainer.step)
    batch = trainer._draw_batch(generator)
    loss, _ = trainer._student_loss(batch, torch.ones(len(trainer.units), device=trainer.device), "hard")
    trainer.backbone_optimiser.step(loss, trainer.step)


def _backbone_step(trainer: AlterTrainer, masks: torch.Tensor) -> Callable[[], None]:
    """One hard-masked backbone step on a fixed batch (masks of shape (B, N_L))."""
    batch = trainer._draw_batch(trainer._generator(0))

    def run() -> None:
        loss, _ = trainer._student_loss(batch, masks, "hard")
        trainer.backbone_optimiser.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.backbone_optimiser.optimizer.step()

    return run


def _masks_at_share(trainer: AlterTrainer, share: float, batch_size: int, seed: int) -> torch.Tensor:
    """Per-sample masks with mean kept MACs close to ``share``: 4 random experts over the batch."""
    generator = torch.Generator().manual_seed(seed)
    unit_shares = torch.tensor(trainer.costs.unit_macs) / trainer.costs.dense_macs
    experts = []
    for _ in range(4):
        keep = torch.zeros(len(trainer.units))
        for index in torch.randperm(len(trainer.units), generator=generator).tolist():
            if trainer.costs.min_share + float(unit_shares @ keep) + float(unit_shares[index]) <= share + 0.02:
                keep[index] = 1.0
        experts.append(keep)
    choice = torch.randint(0, 4, (batch_size,), generator=generator)
    return torch.stack(experts)[choice].to(trainer.device)


def bench_training(batch_size: int = 128, search_steps: int = 150, repeats: int = 15, seed: int = 0) -> dict[str, Any]:
    """Run both measurements on the built-in digits backbone; returns every number."""
    torch.manual_seed(seed)
    trainer = prepare_trainer(digits_bench_config(batch_size, search_steps))
    for _ in range(search_steps):
        trainer.train_step()
    baseline = prepare_trainer(digits_bench_config(batch_size, search_steps))

    iteration = measure_latencies(
        {"alter_iteration": trainer.train_step, "distillation_iteration": lambda: _distillation_step(baseline)},
        repeats,
    )
    results: dict[str, Any] = {
        "batch_size": batch_size,
        "hard_macs_share_during_alter": trainer.hard_share(),
        **{f"{k}_s": v for k, v in iteration.items()},
        "alter_vs_distillation": iteration["alter_iteration"] / iteration["distillation_iteration"],
    }

    step_variants = {"keep_100": _backbone_step(trainer, torch.ones(batch_size, len(trainer.units)))}
    kept = {}
    for share in (0.25, 0.5, 0.75):
        if share <= trainer.costs.min_share:
            continue
        masks = _masks_at_share(trainer, share, batch_size, seed)
        kept[share] = float(trainer.costs.share(masks.cpu()).mean())
        step_variants[f"keep_{int(share * 100)}"] = _backbone_step(trainer, masks)
    steps = measure_latencies(step_variants, repeats)
    results["backbone_step_s"] = steps
    for share, measured in kept.items():
        name = f"keep_{int(share * 100)}"
        results[f"backbone_step_{name}_vs_100"] = steps[name] / steps["keep_100"]
        results[f"backbone_step_{name}_kept_macs_share"] = measured
    results["fixed_macs_share"] = trainer.costs.min_share
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--search-steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    results = bench_training(args.batch_size, args.search_steps, args.repeats)
    print(json.dumps(results, indent=2))
    print(
        f"(a) ALTER iteration / dense distillation iteration = {results['alter_vs_distillation']:.2f}x "
        f"(aim <= 1.5x; hard MACs share {results['hard_macs_share_during_alter']:.3f})"
    )
    if "backbone_step_keep_50_vs_100" in results:
        print(
            f"(b) backbone step at {results['backbone_step_keep_50_kept_macs_share']:.2f} kept MACs / 100% = "
            f"{results['backbone_step_keep_50_vs_100']:.2f}x (aim <= 0.65x)"
        )


if __name__ == "__main__":
    main()
