"""The benchmark suite: every number of docs/results.md, measured in one run.

    python -m bench [--quick] [--only training,inference,search,macs,ablation] [--out reports/bench]

Writes ``benchmarks.json`` (every number, the machine, the command, the code version) and
``benchmarks.md`` (the same as tables) into ``--out`` (default ``reports/bench/``, ignored by git, so a quick
run never replaces the committed full-run results in ``bench/results/``, written with ``--out bench/results``).
Each figure is a ratio of two things measured side by side in this run. Sections:

* ``training``   ALTER iteration vs dense distillation iteration; backbone step at 25/50/75% kept MACs
* ``inference``  exported routed models vs dense at the same steps (batch 1 and compute-bound batches)
* ``search``     the quickstart search through Ray: orchestration overhead, its front and report
* ``versus_50``  the search's winner at its steps vs the dense teacher at 50 steps (the paper's 3.64x)
* ``macs``       SD 2.1 UNet MACs: per-unit sum vs an independent count, beside the paper's numbers
* ``ablation``   Static / Manual / TwoStage / ALTER at one budget over seeds, and a sparsity sweep

``--quick`` (about 8 minutes on 2 CPU cores with the digits teacher cached, 10 without) uses fewer
repeats, a 4-trial search and a 1-seed ablation; the full run (about 32 minutes with the earlier 3-seed
ablation; its 5 seeds add about 10) uses the 8-trial quickstart and a 5-seed ablation. The search's Pareto plot is copied to ``--out`` as ``quickstart-pareto.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

import alternas

from .ablation import run_ablation, run_sparsity_sweep
from .inference import bench_export, bench_winner_vs_dense
from .macs import bench_sd21_macs
from .markdown import render_markdown
from .search import bench_search
from .training import bench_training

SECTIONS = ("training", "inference", "search", "versus_50", "macs", "ablation")
ROOT = Path(__file__).resolve().parent.parent
#: where a run writes by default (git-ignored); the committed full-run results are in bench/results/
DEFAULT_OUT = ROOT / "reports" / "bench"
#: the search section's Pareto plot, copied next to benchmarks.json
FIGURE_NAME = "quickstart-pareto.png"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "alternas": alternas.__version__,
        "commit": commit,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


class Suite:
    """Runs sections one after another and rewrites ``benchmarks.{json,md}`` after each one.

    A section that raises is recorded with its error and the suite goes on, so finished sections
    are never lost; :attr:`failed` names the sections that raised.
    """

    def __init__(self, out_dir: Path, quick: bool) -> None:
        self.out_dir = out_dir
        self.started = time.perf_counter()
        self.document: dict[str, Any] = {
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "quick": quick,
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        self.failed: list[str] = []

    def run(self, name: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        print(f"[bench] {name} ...", flush=True)
        started = time.perf_counter()
        try:
            result = measure()
        except Exception as error:  # recorded in the results; the other sections still run
            traceback.print_exc()
            self.failed.append(name)
            result = {"error": f"{type(error).__name__}: {error}"}
        result["section_seconds"] = time.perf_counter() - started
        print(f"[bench] {name} {'failed' if 'error' in result else 'done'} in {result['section_seconds']:.0f} s",
              flush=True)
        self.document[name] = result
        self.write()
        return None if "error" in result else result

    def write(self) -> None:
        self.document["total_seconds"] = time.perf_counter() - self.started
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "benchmarks.json").write_text(json.dumps(self.document, indent=2, default=str) + "\n")
        (self.out_dir / "benchmarks.md").write_text(render_markdown(self.document))


def run_suite(suite: Suite, sections: list[str], quick: bool, work: Path) -> None:
    """Run the chosen sections; ``versus_50`` compares the winner of the ``search`` section's run."""
    search_dir = work / "search"
    if "training" in sections:
        suite.run("training", lambda: bench_training(batch_size=128, search_steps=60 if quick else 150,
                                                     repeats=7 if quick else 15))
    if "inference" in sections:
        suite.run("inference", lambda: bench_export(quick=quick))
    searched = None
    if "search" in sections or "versus_50" in sections:
        searched = suite.run("search", lambda: bench_search(search_dir, num_trials=4 if quick else None))
        figure = search_dir / "figures" / "pareto.png"
        if searched is not None and figure.is_file():
            suite.out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(figure, suite.out_dir / FIGURE_NAME)
            searched["figure"] = FIGURE_NAME
            suite.write()
    if "versus_50" in sections and searched is not None:
        suite.run("versus_50", lambda: bench_winner_vs_dense(search_dir))
    if "macs" in sections:
        suite.run("macs", bench_sd21_macs)
    if "ablation" in sections:
        seeds, steps, samples = ([0], 200, 200) if quick else ([0, 1, 2, 3, 4], 400, 500)
        budgets = [0.7, 0.35] if quick else [0.8, 0.65, 0.35]
        suite.run(
            "ablation",
            lambda: {
                "table": run_ablation(seeds, 0.5, steps, samples, work / "ablation", workers=2),
                "sparsity": run_sparsity_sweep(budgets, steps, samples, work / "ablation", workers=2),
            },
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the < 15 minute version")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where benchmarks.{json,md} go")
    args = parser.parse_args()
    sections = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")

    suite = Suite(args.out, args.quick)
    with tempfile.TemporaryDirectory(prefix="alternas-bench-") as work:
        run_suite(suite, sections, args.quick, Path(work))
    print(f"[bench] wrote {args.out / 'benchmarks.json'} and {args.out / 'benchmarks.md'} "
          f"in {suite.document['total_seconds'] / 60:.1f} min")
    if suite.failed:
        sys.exit(f"[bench] failed sections: {', '.join(suite.failed)} (their errors are in benchmarks.json)")

if __name__ == "__main__":
    main()
