"""Export a trial as a diffusers-loadable model: expert config, fine-tuned weights and a runtime.

The export folder holds:

* ``experts.yaml``: the expert config (each expert's kept and skipped units, the routing as timestep
  intervals for the sampler and for the whole training schedule, per-expert and total MACs, metrics,
  provenance, with the trial's comparison with the dense step-count baseline); it is an
  :class:`~alternas.plan.ExpertPlan` file with an explanatory header;
* the routed backbone (``unet/`` or ``transformer/``): ``config.json`` + safetensors weights, loadable
  with ``RoutedUNet2DConditionModel.from_pretrained`` (and friends) and refused, with a message saying
  so, by the plain diffusers class;
* for the built-in digits model a full :class:`~alternas.export.pipeline_digits.AlternasDigitsPipeline`
  (``model_index.json``, ``label_encoder/``, ``scheduler/``); for a backbone taken from a diffusers
  pipeline (Stable Diffusion, DiT) that pipeline with the routed backbone swapped in and the search's
  sampler as its scheduler, except that an unconditional ``UNet2DModel`` pipeline (``DDPMPipeline``)
  becomes an :class:`~alternas.export.pipeline_unconditional.AlternasUnconditionalPipeline`, which samples
  right with every sampler; for a bare backbone the routed model alone;
* ``README.md``: how to load it (``DiffusionPipeline.from_pretrained`` after ``import alternas``) and
  sample with the searched sampler and step count (:mod:`alternas.export.model_card`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from diffusers import DiffusionPipeline, UNet2DModel
from torch import nn

from .._atomic import atomic_dir
from .._readers import read_model
from ..config import RunConfig
from ..exceptions import BackboneError, CheckpointError, ConfigError
from ..plan import ExpertPlan
from ..rundir import RUN_FILES, SearchRunDir, read_metrics
from .export_generation import condition_kind
from .model_card import model_card
from .modeling import routed_from_plan
from .pipeline_unconditional import AlternasUnconditionalPipeline

__all__ = ["EXPERT_CONFIG_FILE", "ExportResult", "export_experts", "export_plan"]

#: the expert config file of an export folder
EXPERT_CONFIG_FILE = "experts.yaml"

#: pipeline component holding each backbone class
_COMPONENTS = {"UNet2DConditionModel": "unet", "UNet2DModel": "unet", "DiTTransformer2DModel": "transformer"}

_HEADER = """\
# alternas expert config: the experts of one ALTER model and how timesteps are routed to them.
#   units             the prunable units (mask columns) with their MACs per sample and forward
#   experts           per expert: units it keeps and skips, MACs per step, sampler steps it serves
#   sampler           routing at the sampler's timesteps (scheduler, steps, intervals in visiting order)
#   train_routing     the expert of every training timestep, as intervals (high t = noisy first)
#   macs              measured MACs of the routed model and of the dense backbone ({convention})
#   metrics           quality, MACs and latency measured for the experts and the dense teacher
#   provenance        where this model came from (run, trial, seed, versions)
# Load it as README.md shows: `import alternas`, then `DiffusionPipeline.from_pretrained("<this folder>")`
# when it holds a pipeline (model_index.json).
"""


@dataclass
class ExportResult:
    """What :func:`export_experts` wrote.

    Attributes:
        out_dir: the export folder.
        plan: the exported experts and routing (as written to ``experts.yaml``).
        component: the backbone's folder inside ``out_dir`` (``unet`` or ``transformer``).
        pipeline: the pipeline class written (``model_index.json``), ``None`` for a bare backbone.
        trial_id: the exported trial (``None`` for a single ``alternas train`` run).
        reason: why this trial (the report's winner message, or "chosen with --trial").
    """

    out_dir: Path
    plan: ExpertPlan
    component: str
    pipeline: str | None
    trial_id: str | None
    reason: str


def export_experts(
    run_dir: str | Path, out_dir: str | Path, trial_id: str | None = None, overwrite: bool = False
) -> ExportResult:
    """Export one trial of a search (the report's winner by default) or a single training run.

    Args:
        run_dir: a search run directory, or the output of ``alternas train``.
        out_dir: the export folder to create.
        trial_id: the trial to export; ``None`` exports the winner of the run's report.
        overwrite: replace ``out_dir`` if it holds an earlier export (never any other folder).

    Raises:
        CheckpointError: the run has no finished trial, the trial is unknown or unfinished, there is
            no winner, its files are missing, or ``out_dir`` exists without ``overwrite``.
    """
    trial_dir, chosen, reason, comparison = _resolve_trial(Path(run_dir), trial_id)
    plan = ExpertPlan.load(trial_dir / RUN_FILES["plan"])
    config = _read_config(trial_dir / RUN_FILES["config"])
    provenance = {
        "exported_from": Path(run_dir).resolve().name,  # the run's name: no path of this machine
        "trial": chosen,
        "weights_from": _relative_to(trial_dir, Path(run_dir)),
        "exported_at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "model": portable(config.model.model_dump(mode="json", exclude_defaults=True)),
    }
    if comparison is not None:
        provenance["step_count_baseline"] = comparison
    plan = plan.model_copy(
        update={"provenance": {**plan.provenance, **provenance}, "metrics": read_metrics(trial_dir) or plan.metrics}
    )
    result = export_plan(plan, trial_dir / RUN_FILES["backbone"], config, out_dir, overwrite=overwrite)
    return dataclasses.replace(result, trial_id=chosen, reason=reason)


def export_plan(
    plan: ExpertPlan,
    backbone_dir: str | Path,
    config: RunConfig,
    out_dir: str | Path,
    overwrite: bool = False,
) -> ExportResult:
    """Write the export folder for ``plan`` and the fine-tuned backbone saved in ``backbone_dir``.

    Args:
        plan: the experts and routing.
        backbone_dir: the fine-tuned backbone (``save_pretrained`` folder).
        config: the run's config (its ``model`` section says where the rest of the pipeline comes from).
        out_dir: the export folder to create.
        overwrite: replace ``out_dir`` if it holds an earlier export (never any other folder).
    """
    out_dir = Path(out_dir)
    _check_export_target(out_dir, overwrite)
    plan = plan.model_copy(
        update={"backbone": portable(plan.backbone), "provenance": portable(plan.provenance)}
    )
    class_name = plan.backbone["class_name"]
    component = config.model.subfolder or _COMPONENTS[class_name]
    routed = routed_from_plan(backbone_dir, plan)
    pipeline = _build_pipeline(plan, routed, component, config)
    pipeline_name = type(pipeline).__name__ if pipeline is not None else None
    with atomic_dir(out_dir) as staging:  # a crash never leaves a half-written export
        if pipeline is not None:
            pipeline.save_pretrained(staging, safe_serialization=True)
        else:
            routed.save_pretrained(staging / component, safe_serialization=True)
        _portable_config_names(staging, config.model.backbone)
        header = _HEADER.format(convention=plan.macs.convention)
        (staging / EXPERT_CONFIG_FILE).write_text(
            header + yaml.safe_dump(plan.model_dump(mode="json"), sort_keys=False, width=100)
        )
        (staging / "README.md").write_text(model_card(plan, component, pipeline, routed))
    return ExportResult(out_dir, plan, component, pipeline_name, trial_id=None, reason="exported plan")


def portable(value: Any) -> Any:
    """``value`` (a string, or lists and dicts of them) with every local path cut to its last part, so
    that an export shared elsewhere shows no folder of this machine; other strings (hub ids such as
    ``stabilityai/stable-diffusion-2-1``, ``builtin:digits``) are kept."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [portable(item) for item in value]
    if isinstance(value, str) and value and (Path(value).expanduser().is_absolute() or Path(value).exists()):
        return Path(value).expanduser().name
    return value


def _portable_config_names(folder: Path, source: str) -> None:
    """Replace the ``_name_or_path`` diffusers writes into each saved ``config.json`` / ``model_index.json``
    (the folder the model was loaded from, often a path of this machine) with ``source``, made portable."""
    for path in [*folder.glob("*.json"), *folder.glob("*/*.json")]:
        try:
            config = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and "_name_or_path" in config:
            config["_name_or_path"] = portable(source)
            path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _check_export_target(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write over anything but an empty folder or, with ``overwrite``, an earlier export.

    Raises:
        CheckpointError: ``out_dir`` is a file, or a folder with other content.
    """
    if out_dir.name in ("", "..") or (out_dir.exists() and not out_dir.is_dir()):
        raise CheckpointError(
            f"export folder `{out_dir}` is not a folder name to create; pass a new folder, e.g. --out experts/digits"
        )
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not (out_dir / EXPERT_CONFIG_FILE).is_file():
        raise CheckpointError(
            f"`{out_dir}` is not empty and holds no earlier export (no {EXPERT_CONFIG_FILE}); --overwrite "
            "replaces only an alternas export: choose another --out, or empty that folder yourself"
        )
    if not overwrite:
        raise CheckpointError(
            f"export folder `{out_dir}` already exists and holds an export; pass --overwrite to replace it"
        )


def _resolve_trial(run_dir: Path, trial_id: str | None) -> tuple[Path, str | None, str, dict[str, Any] | None]:
    """``(trial folder, trial id, why, comparison with the step-count baseline)`` for a search run
    directory or a single training run (which has no baseline)."""
    if (run_dir / RUN_FILES["plan"]).is_file():
        if trial_id is not None:
            raise CheckpointError(
                f"`{run_dir}` is a single training run, not a search; drop --trial {trial_id}"
            )
        return run_dir, None, "single training run", None
    from ..report import build_report

    layout = SearchRunDir(run_dir)
    if trial_id is None:
        report = build_report(run_dir)
        if report.winner.trial_id is None:
            damaged = [f"trial {e.trial_id}: {e.damage}" for e in report.entries if e.damage]
            raise CheckpointError("; ".join([report.winner.message, *damaged]))
        winner = report.winner.trial_id
        folder = layout.trial_dir(winner)
        if report.winner.shipped_run is not None:  # a confirmed configuration: the run nearest its mean
            folder = layout.confirmations().trial_dir(report.winner.shipped_run)
        return folder, winner, report.winner.message, report.baseline_comparison(winner)
    confirmation = layout.confirmations()
    if not (layout.trial_dir(trial_id) / "trial.json").is_file() and (confirmation.trial_dir(trial_id) / "trial.json").is_file():
        layout = confirmation  # a confirmation run, named with --trial
    if not (layout.trial_dir(trial_id) / "trial.json").is_file():
        known = ", ".join(r.trial_id for r in layout.records()) or "none"
        raise CheckpointError(f"`{run_dir}` has no trial `{trial_id}`; its trials are: {known}")
    record = layout.read_record(trial_id)
    if record.status != "finished":
        raise CheckpointError(
            f"trial `{trial_id}` is {record.status}"
            + (f" ({record.error.strip().splitlines()[-1]})" if record.error else "")
            + "; only finished trials can be exported"
        )
    try:
        comparison = build_report(run_dir).baseline_comparison(trial_id)
    except ConfigError:  # the recipe's report section does not fit: export the chosen trial anyway
        comparison = None
    return layout.trial_dir(trial_id), trial_id, "chosen with --trial", comparison


def _relative_to(folder: Path, run_dir: Path) -> str:
    """``folder`` inside the run directory (``trials/<id>``, ``confirmations/<id>``, or ``.`` for a single run),
    as a portable path."""
    try:
        return folder.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        return folder.name


def _read_config(path: Path) -> RunConfig:
    if not path.is_file():
        raise CheckpointError(f"run config `{path}` is missing; the trial folder is incomplete")
    return read_model(path, RunConfig)


def _build_pipeline(
    plan: ExpertPlan, routed: nn.Module, component: str, config: RunConfig
) -> DiffusionPipeline | None:
    """The pipeline to save around ``routed``, or ``None`` when the backbone did not come with one."""
    from ..samplers import make_scheduler

    if config.model.builtin_name == "digits":
        from ..sources import load_bundle
        from .pipeline_digits import AlternasDigitsPipeline

        bundle = load_bundle(config.model)
        return AlternasDigitsPipeline(
            unet=routed,
            label_encoder=bundle.label_encoder,
            scheduler=make_scheduler(plan.sampler.scheduler, bundle.scheduler_config),
            default_num_inference_steps=plan.sampler.steps,
            default_guidance_scale=plan.guidance_scale,
        )
    from ..pipelines.hub import read_model_index, resolve_pipeline_dir

    directory = resolve_pipeline_dir(config.model.backbone, config.model.local_files_only)
    index = read_model_index(directory)
    if index is None:  # a lone model folder
        return None
    absent = {  # parts listed in model_index.json but not on disk (e.g. a safety checker never downloaded)
        name: None
        for name, entry in index.items()
        if isinstance(entry, list)
        and len(entry) == 2
        and entry[0] is not None
        and not (directory / name).is_dir()
    }
    try:
        pipeline = DiffusionPipeline.from_pretrained(
            directory, local_files_only=True, **absent, **{component: routed}
        )
    except (OSError, ValueError) as error:
        raise BackboneError(f"cannot load the base pipeline `{directory}` to export into: {error}") from error
    scheduler = make_scheduler(plan.sampler.scheduler, dict(pipeline.scheduler.config))
    if _is_unconditional_unet_pipeline(pipeline):  # DDPMPipeline & co. mis-drive most schedulers
        return AlternasUnconditionalPipeline(
            unet=routed, scheduler=scheduler, default_num_inference_steps=plan.sampler.steps
        )
    pipeline.scheduler = scheduler
    return pipeline


def _is_unconditional_unet_pipeline(pipeline: DiffusionPipeline) -> bool:
    """Whether ``pipeline`` is an unconditional pixel-space ``UNet2DModel`` pipeline (``DDPMPipeline``,
    ``DDIMPipeline``, ``PNDMPipeline``: a ``unet`` and a ``scheduler``, called with a ``batch_size``).

    Those pipelines drive their own scheduler only: ``DDPMPipeline`` applies neither ``init_noise_sigma`` nor
    ``scale_model_input`` and passes ``generator`` to every ``step``, ``DDIMPipeline`` turns any scheduler into
    DDIM. The export writes an :class:`~alternas.export.AlternasUnconditionalPipeline` instead, which samples
    right with every sampler.
    """
    parts = {name for name, part in pipeline.components.items() if part is not None}
    if parts != {"unet", "scheduler"} or not isinstance(pipeline.unet, UNet2DModel):
        return False
    try:
        return condition_kind(pipeline) == "unconditional"
    except ConfigError:  # takes neither labels, prompts nor a batch size
        return False
