"""``benchmarks.md``: the suite's ``benchmarks.json`` as readable tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["render_markdown"]


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def _spread(summary: dict[str, Any], digits: int = 2) -> str:
    if summary["std"] == 0.0 and len(summary["values"]) == 1:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['std']:.{digits}f}"


def _training(section: dict[str, Any]) -> list[str]:
    rows = [[
        "ALTER iteration / dense distillation iteration",
        f"{section['alter_vs_distillation']:.2f}x",
        "≤ 1.5x",
    ]]
    for share in (25, 50, 75):
        key = f"backbone_step_keep_{share}_vs_100"
        if key in section:
            kept = section[f"backbone_step_keep_{share}_kept_macs_share"]
            rows.append([f"backbone step at {kept:.2f} kept MACs / 100%", f"{section[key]:.2f}x",
                         "≤ 0.65x" if share == 50 else ""])
    return [
        f"## Training (built-in digits, batch {section['batch_size']}, fixed share "
        f"{section['fixed_macs_share']:.3f} of dense MACs)",
        "",
        *_table(["measurement", "ratio", "aim"], rows),
    ]


def _inference(section: dict[str, Any]) -> list[str]:
    rows = [
        [
            c["model"], f"{c['params_m']:.2f}M", "x".join(map(str, c["sample_shape"])), c["batch_size"], c["steps"],
            f"{c['dense_s']:.3f}", f"{c['routed_s']:.3f}", f"{c['speedup']:.2f}x", f"{c['ideal_speedup']:.2f}x",
            f"{c['fraction_of_ideal']:.2f}",
        ]
        for c in section["cases"]
    ]
    return [
        f"## Inference: exported routed model vs dense, same steps ({section['threads']} CPU threads, "
        f"{section['keep_share']:.0%} kept MACs per expert)",
        "",
        *_table(["model", "params", "sample", "batch", "steps", "dense s", "routed s", "speedup", "ideal",
                 "of ideal"], rows),
    ]


def _search(section: dict[str, Any]) -> list[str]:
    rows = [
        [f["trial_id"], ", ".join(f"{k}={v}" for k, v in f["params"].items()), f"{f['fid']:.2f}",
         f"{f['accuracy']:.3f}", f"{f['generation_macs'] / 1e6:.1f}", f"{f['macs_share']:.3f}"]
        for f in section["front"]
    ]
    teacher = section["front"][0]["teacher_fid"] if section["front"] else None
    lines = [
        f"## Search orchestration ({section['recipe']})",
        "",
        f"{section['finished_trials']}/{section['planned_trials']} trials finished "
        f"({section['failed_trials']} failed), {section['max_concurrent_trials']} at a time with "
        f"{section['cpus_per_trial']} CPU each. Search wall time {section['search_wall_s']:.0f} s, "
        f"sum of trial compute {section['sum_trial_compute_s']:.0f} s, "
        f"**orchestration overhead {section['overhead_share']:.1%}** of slot time "
        f"(report: {section['report_s']:.0f} s more).",
        "",
        f"Front (FID of the dense teacher at the same sampler: {teacher:.2f}):" if teacher else "Front:",
        "",
        *_table(["trial", "params", "FID", "accuracy", "MMACs / image", "MACs share"], rows),
    ]
    if "figure" in section:
        lines += [f"![Pareto front]({section['figure']})", ""]
    return lines


def _versus_50(section: dict[str, Any]) -> list[str]:
    seconds = section["seconds"]
    dense_key = f"dense_{section['dense_steps']}_steps"
    return [
        f"## Winner vs dense at {section['dense_steps']} steps (the paper's 3.64x comparison)",
        "",
        f"{section['winner_reason'][0].upper()}{section['winner_reason'][1:]}. It samples with {section['steps']} steps: "
        f"{section['quality_metric']} {section['quality']:.2f} (teacher at the same steps "
        f"{section['teacher_quality_same_steps']:.2f}), {section['macs_share']:.3f} of dense MACs per step.",
        "",
        *_table(
            ["comparison", "ideal (MACs)", "measured", "seconds (winner / dense)"],
            [
                [f"winner @ {section['steps']} vs dense @ {section['dense_steps']}",
                 f"{section['ideal_speedup_vs_dense_steps']:.2f}x", f"{section['speedup_vs_dense_steps']:.2f}x",
                 f"{seconds['winner']:.3f} / {seconds[dense_key]:.3f}"],
                [f"winner vs dense, both @ {section['steps']}", f"{section['ideal_speedup_same_steps']:.2f}x",
                 f"{section['speedup_same_steps']:.2f}x",
                 f"{seconds['winner']:.3f} / {seconds['dense_same_steps']:.3f}"],
            ],
        ),
    ]


def _macs(section: dict[str, Any]) -> list[str]:
    return [
        "## MACs counter: Stable Diffusion 2.1 UNet (random weights, meta device)",
        "",
        f"Latent {'x'.join(map(str, section['latent']))}, {section['text_tokens']} text tokens, batch 1, "
        f"{section['units']} prunable units {section['unit_kinds']}.",
        "",
        *_table(
            ["count", "GMACs / step", "reference"],
            [
                ["per-unit sum + fixed (conv, linear, attention matmuls)", f"{section['gmacs_units_plus_fixed']:.2f}",
                 f"independent thop count {section['gmacs_independent']:.2f} "
                 f"(ratio {section['units_plus_fixed_vs_independent']:.6f})"],
                ["conv + linear only", f"{section['gmacs_conv_linear']:.2f}",
                 f"paper Table 2: {section['paper_table2_gmacs']} "
                 f"(ratio {section['conv_linear_vs_paper_table2']:.4f})"],
                ["conv + linear + 2 x attention matmuls", f"{section['gmacs_conv_linear_plus_2x_attention']:.2f}",
                 f"paper Table 1: {section['paper_table1_gmacs']} "
                 f"(ratio {section['paper_table1_convention_vs_paper']:.4f})"],
                ["fixed part (never skipped)", f"{section['gmacs_fixed']:.2f}",
                 f"{section['fixed_share']:.3f} of dense"],
            ],
        ),
    ]


def _ablation(section: dict[str, Any]) -> list[str]:
    table = section["table"]
    teacher = table["teacher"]
    rows = [["dense teacher, 20 steps", f"{teacher['fid']:.2f}", f"{teacher['accuracy']:.3f}", "", "", "1.000",
             "", "", ""]]
    dense = table.get("dense_equal_macs")
    if dense is not None:
        rows.append([f"dense teacher, {dense['steps']} steps (equal total MACs)", f"{dense['fid']:.2f}",
                     f"{dense['accuracy']:.3f}", "", "", f"{dense['steps'] / 20:.3f}", "", "", ""])
    best = table.get("dense_best_sampler_equal_macs")
    if best is not None:
        rows.append([f"dense teacher, {best['steps']} steps, best sampler ({best['sampler']}, equal total MACs)",
                     f"{best['fid']:.2f}", f"{best['accuracy']:.3f}", "", "", f"{best['steps'] / 20:.3f}", "", "", ""])
    for method, metrics in table["methods"].items():
        paired = metrics.get("fid_minus_static")
        rows.append([
            method, _spread(metrics["fid"]), _spread(metrics["accuracy"], 3),
            _spread(paired) if paired is not None else "", _spread(metrics["psnr"]),
            _spread(metrics["macs_share"], 3), _spread(metrics["experts_in_use"], 1),
            _spread(metrics["routing_intervals_max"], 1) if "routing_intervals_max" in metrics else "",
            _spread(metrics["budget_undershoot_max"], 3) if "budget_undershoot_max" in metrics else "",
        ])
    long_lines: list[str] = []
    long = table.get("long")
    if long is not None:
        long_rows = [[method, f"{row['fid']:.2f}", f"{row['accuracy']:.3f}", f"{row['macs_share']:.3f}"]
                     for method, row in long["methods"].items()]
        long_lines = [f"### Longer training: {long['train_steps']} iterations, seed {long['seed']}", "",
                      *_table(["method", "FID", "accuracy", "MACs share"], long_rows)]
    sweep = section["sparsity"]
    sweep_rows = [
        [budget, f"{row['macs_share']:.3f}", f"{row['fid']:.2f}", f"{row['accuracy']:.3f}", f"{row['psnr']:.2f}",
         int(row["experts_in_use"])]
        for budget, row in sweep["budgets"].items()
    ]
    return [
        f"## Ablation (Table 3 analogue): budget {table['budget_macs_share']} of dense MACs, "
        f"{table['train_steps']} training iterations, seeds {table['seeds']}, "
        f"{table['num_samples']} samples, DDIM 20 steps",
        "",
        *_table(["method", "FID", "accuracy", "FID - Static (paired)", "PSNR vs teacher", "MACs share",
                 "experts used", "intervals/expert (max)", "hard share below target (max)"], rows),
        *long_lines,
        f"### Sparsity sweep (Table 10 analogue): ALTER, 4 learned experts, seed 0, "
        f"{sweep['train_steps']} iterations",
        "",
        *_table(["target share", "measured share", "FID", "accuracy", "PSNR", "experts used"], sweep_rows),
    ]


_RENDERERS = {
    "training": _training,
    "inference": _inference,
    "search": _search,
    "versus_50": _versus_50,
    "macs": _macs,
    "ablation": _ablation,
}


def render_markdown(document: dict[str, Any]) -> str:
    """The whole ``benchmarks.md``."""
    machine = document["machine"]
    lines = [
        "# alternas benchmarks",
        "",
        f"`{document['command']}` on {document['date']}, commit `{machine['commit']}`, "
        f"{document['total_seconds'] / 60:.1f} min in all.",
        "",
        f"Machine: {machine['platform']}, {machine['cpu_count']} CPUs ({machine['torch_threads']} torch threads), "
        f"Python {machine['python']}, torch {machine['torch']}, GPU: {machine['cuda'] or 'none'}.",
        "",
        "Every ratio compares two things measured side by side in this run (calls alternating, medians).",
        "",
    ]
    for name, render in _RENDERERS.items():
        if name not in document:
            continue
        if "error" in document[name]:
            lines += [f"## {name}: failed", "", f"`{document[name]['error']}`", ""]
        else:
            lines += render(document[name])
    return "\n".join(lines)
