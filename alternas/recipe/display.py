"""Rich renderings of a validated recipe: the resolved search space, the unit table and the budgets."""

from __future__ import annotations

from collections import Counter

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..macs import format_macs
from ..metrics import lower_is_better
from .dimensions import recipe_dimensions
from .inspection import RecipeInspection
from .recipe_model import Recipe

__all__ = ["render_inspection"]


def render_inspection(inspection: RecipeInspection) -> RenderableType:
    """The resolved recipe: overview, search space, unit table with MACs, budgets, missing inputs."""
    parts: list[RenderableType] = [_overview(inspection), _space_table(inspection), _unit_table(inspection),
                                   _budget_table(inspection)]
    for problem in inspection.missing:
        parts.append(Text(f"note: `{problem.path}`: {problem.message} (needed by `alternas search`)", style="yellow"))
    return Group(*parts)


def _baseline_text(recipe: Recipe) -> str:
    """The dense step counts the search measures before its trials (``report.baseline``)."""
    steps = recipe.report.baseline.ladder(recipe.default_steps())
    if not steps:
        return "none (`report.baseline.steps: []`)"
    return f"the dense teacher at {', '.join(map(str, steps))} sampler steps, measured once before the trials"


def _overview(inspection: RecipeInspection) -> Table:
    recipe, architecture = inspection.recipe, inspection.architecture
    search = recipe.search
    grid = recipe.grid_size()
    direction = "lower" if lower_is_better(recipe.report.quality_metric) else "higher"
    table = Table.grid(padding=(0, 2))
    rows = [
        ("recipe", f"{recipe.name} ({inspection.origin})"),
        ("description", recipe.description or "-"),
        ("output", recipe.output_dir),
        ("backbone", f"{type(architecture.model).__name__} from {recipe.model.backbone}"),
        ("architecture", architecture.source),
        ("input", f"sample {tuple(architecture.sample_shape)}, {architecture.condition_length} condition token(s)"),
        ("objectives", f"{recipe.report.quality_metric} ({direction} is better) and total generation MACs "
                       f"(lower); feasible when MACs <= budget x {1 + search.budget_tolerance:g}"),
        ("baseline", _baseline_text(recipe)),
        ("sampler", f"{search.sampler}, {recipe.planned_trials()} trials (space: "
                    f"{'continuous' if grid == float('inf') else f'{grid:g} points'}), seed {search.seed}, "
                    f"{len(search.initial_points)} initial points"),
        ("resources", f"{search.max_concurrent_trials} concurrent trials x {search.cpus_per_trial:g} CPU, "
                      f"{search.gpus_per_trial:g} GPU; up to {search.max_retries} restarts of a failed trial"),
    ]
    confirm = recipe.report.confirm
    if confirm is not None:
        rows.append(("confirmation", f"then the winner rule's best {confirm.top_k} trials retrained with {confirm.seeds} "
                                     f"new seeds each: up to {confirm.top_k * confirm.seeds} more trials"))
    if search.time_limit_s is not None:
        rows.append(("time limit", f"{search.time_limit_s:g} s"))
    for key, value in rows:
        table.add_row(Text(key, style="bold"), Text(str(value)))
    return table


def _space_table(inspection: RecipeInspection) -> Table:
    """One row per search dimension (and each value the recipe fixes in its place), then the units."""
    table = Table(title="search space", title_justify="left")
    table.add_column("parameter")
    table.add_column("values")
    table.add_column("meaning")
    for dimension in recipe_dimensions(inspection.recipe):
        table.add_row(Text(dimension.name), Text(dimension.describe()), Text(dimension.meaning()))
    kinds = Counter(unit.kind for unit in inspection.candidates)
    table.add_row("units", f"{len(inspection.candidates)} of {len(inspection.units)}",
                  ", ".join(f"{n} {kind}" for kind, n in kinds.items()))
    return table


def _unit_table(inspection: RecipeInspection) -> Table:
    costs = inspection.costs
    macs = dict(zip(costs.unit_names, costs.unit_macs))
    table = Table(title=f"prunable units ({costs.convention}, per sample and forward)", title_justify="left")
    for name, justify in (("#", "right"), ("unit", "left"), ("kind", "left"), ("MACs", "right"),
                          ("share", "right"), ("candidate", "center")):
        table.add_column(name, justify=justify)
    for index, unit in enumerate(inspection.units):
        candidate = unit.name in macs
        table.add_row(
            str(index),
            Text(unit.name),
            unit.kind,
            format_macs(macs[unit.name], ".1f", unit="") if candidate else "-",
            f"{macs[unit.name] / costs.dense_macs:.1%}" if candidate else "-",
            "yes" if candidate else "no",
            style=None if candidate else "dim",
        )
    table.caption = (
        f"dense {format_macs(costs.dense_macs, '.1f')}, fixed (all candidates skipped) "
        f"{format_macs(costs.fixed_macs, '.1f')} = {costs.min_share:.2%} of dense"
    )
    return table


def _budget_table(inspection: RecipeInspection) -> Table:
    recipe, costs = inspection.recipe, inspection.costs
    budget = recipe.space.budget
    table = Table(title="budgets (feasible: above the fixed cost)", title_justify="left")
    for name in (budget.param, "steps", "target share / step", "budget MACs / image (no CFG)"):
        table.add_column(name, justify="right")
    for value in budget.dimension.extremes():
        for steps in recipe.default_steps():
            table.add_row(
                f"{value:g}",
                str(steps),
                f"{budget.target_share(value, steps):.3f}",
                format_macs(budget.budget_share(value, steps) * costs.dense_macs * steps, ".1f", unit=""),
            )
    return table
