"""Routed runtime models: exact routing, real skipping, save/load, drop-in use in diffusers pipelines,
and export folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DiTPipeline,
    DiTTransformer2DModel,
    StableDiffusionPipeline,
)
from safetensors.torch import load_file

from alternas.backbones import adapter_for
from alternas.config import RunConfig
from alternas.exceptions import BackboneError, CheckpointError
from alternas.export import (
    ROUTED_CLASSES,
    RoutedDiTTransformer2DModel,
    export_plan,
    generate_images,
    load_experts,
    plan_from_masks,
    read_expert_config,
)
from alternas.gating import GateController
from alternas.macs import count_macs, profile_costs
from alternas.routing import manual_assignment

from .conftest import BACKBONE_FACTORIES, SCHEDULE, tiny_dit, tiny_unet_condition



def three_experts(num_units: int) -> torch.Tensor:
    """Keep-all, keep-every-other and skip-all experts, shape ``(3, N_L)``."""
    return torch.stack(
        [torch.ones(num_units), (torch.arange(num_units) % 2 == 0).float(), torch.zeros(num_units)]
    )


def routed_copy(
    model: torch.nn.Module, keep: torch.Tensor, assignment: torch.Tensor, tmp_path
) -> torch.nn.Module:
    """Save ``model`` and load it back as its routed class following ``keep`` / ``assignment``."""
    plan = plan_from_masks(model, keep, assignment, scheduler_config=SCHEDULE, steps=4)
    model.save_pretrained(tmp_path / "backbone")
    config = RunConfig.model_validate(
        {"model": {"backbone": str(tmp_path / "backbone")}}
    )  # a lone model folder
    export_plan(plan, tmp_path / "backbone", config, tmp_path / "export")
    return load_experts(tmp_path / "export")


@pytest.mark.parametrize("kind", sorted(BACKBONE_FACTORIES))
def test_routed_model_runs_exactly_the_expert_of_each_timestep(kind, tmp_path):
    model = BACKBONE_FACTORIES[kind]()
    adapter = adapter_for(model)
    units = adapter.discover_units()
    keep = three_experts(len(units))
    assignment = manual_assignment(3, 1000)  # expert 0: t < 333, 1: t < 667, 2: the rest
    routed = routed_copy(model, keep, assignment, tmp_path)
    assert type(routed) is ROUTED_CLASSES[type(model).__name__]
    assert routed.num_experts == 3

    costs = profile_costs(adapter, units)
    gates = GateController(model, units)
    sample = torch.randn(2, *adapter.sample_shape, generator=torch.Generator().manual_seed(0))
    condition = adapter.example_condition(2, 1)
    routed_adapter = adapter_for(routed)
    for timestep, expert in ((100, 0), (500, 1), (900, 2)):
        t = torch.full((2,), timestep)
        with torch.no_grad(), gates.apply(keep[expert], mode="hard"):
            expected = adapter.predict(sample, t, condition)
        with torch.no_grad():
            got = routed_adapter.predict(sample, t, condition)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5, msg=f"{kind} at t={timestep}")
        one = adapter.example_condition(1, 1)
        executed, _ = count_macs(lambda: routed_adapter.predict(sample[:1], t[:1], one))
        assert executed == pytest.approx(float(costs.macs(keep[expert])), rel=1e-9), (kind, expert)


def test_samples_of_one_batch_at_different_timesteps_are_routed_per_sample(tmp_path):
    model = BACKBONE_FACTORIES["unet_condition"]()
    adapter = adapter_for(model)
    units = adapter.discover_units()
    keep = three_experts(len(units))
    routed = routed_copy(model, keep, manual_assignment(3, 1000), tmp_path)
    gates = GateController(model, units)
    sample = torch.randn(3, *adapter.sample_shape, generator=torch.Generator().manual_seed(1))
    condition = adapter.example_condition(3, 1)
    timesteps = torch.tensor([900, 100, 500])
    with torch.no_grad():
        got = adapter_for(routed).predict(sample, timesteps, condition)
        for row, expert in enumerate((2, 0, 1)):
            with gates.apply(keep[expert], mode="hard"):
                expected = adapter.predict(
                    sample[row : row + 1],
                    timesteps[row : row + 1],
                    {key: value[row : row + 1] for key, value in condition.items()},
                )
            torch.testing.assert_close(got[row : row + 1], expected, atol=1e-6, rtol=0)


def test_routed_class_without_experts_is_the_dense_model_and_routed_weights_are_the_plain_state_dict(tmp_path):
    model = BACKBONE_FACTORIES["dit"]()
    dense = RoutedDiTTransformer2DModel.from_config(model.config)
    dense.load_state_dict(model.state_dict())
    adapter = adapter_for(model)
    sample = torch.randn(2, *adapter.sample_shape)
    condition = adapter.example_condition(2, 1)
    with torch.no_grad():
        got = adapter_for(dense.eval()).predict(sample, torch.tensor([10, 10]), condition)
        expected = adapter.predict(sample, torch.tensor([10, 10]), condition)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    dense.save_pretrained(tmp_path / "dense")  # no experts: a plain model, which plain diffusers loads
    assert DiTTransformer2DModel.from_pretrained(tmp_path / "dense").config.num_layers == 4

    routed = routed_copy(model, three_experts(4), manual_assignment(3, 1000), tmp_path)
    routed.save_pretrained(tmp_path / "routed")
    with pytest.raises(ValueError, match="alternas RoutedDiTTransformer2DModel"):  # never silently dense
        DiTTransformer2DModel.from_pretrained(tmp_path / "routed")
    weights = load_file(tmp_path / "routed" / "diffusion_pytorch_model.safetensors")
    for name, tensor in model.state_dict().items():
        assert torch.equal(weights[name], tensor), name


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"expert_units": ["transformer_blocks.0"]}, "only some"),
        (
            {
                "expert_units": ["transformer_blocks.9"],
                "expert_keep": [[1]],
                "expert_timesteps": [{"expert": 0, "first": 9, "last": 0}],
            },
            "does not have",
        ),
        (
            {
                "expert_units": ["transformer_blocks.0"],
                "expert_keep": [[1, 0]],
                "expert_timesteps": [{"expert": 0, "first": 9, "last": 0}],
            },
            "one row of 1",
        ),
        (
            {
                "expert_units": ["transformer_blocks.0"],
                "expert_keep": [[2]],
                "expert_timesteps": [{"expert": 0, "first": 9, "last": 0}],
            },
            "zeros/ones",
        ),
        (
            {
                "expert_units": ["transformer_blocks.0"],
                "expert_keep": [[1], [1, 0]],
                "expert_timesteps": [{"expert": 0, "first": 9, "last": 0}],
            },
            "one row of 0/1",
        ),
        (
            {
                "expert_units": ["transformer_blocks.0"],
                "expert_keep": [[1]],
                "expert_timesteps": [{"expert": 0, "first": 9, "last": 5}],
            },
            "without an expert",
        ),
        (
            {
                "expert_units": ["transformer_blocks.0"],
                "expert_keep": [[1]],
                "expert_timesteps": [
                    {"expert": 0, "first": 9, "last": 0},
                    {"expert": 0, "first": 3, "last": 3},
                ],
            },
            "overlaps",
        ),
        (
            {
                "expert_units": ["transformer_blocks.0"],
                "expert_keep": [[1]],
                "expert_timesteps": [{"expert": 1, "first": 9, "last": 0}],
            },
            "routes to expert 1",
        ),
    ],
)
def test_malformed_expert_config_is_a_clear_error(fields, message):
    with pytest.raises(CheckpointError, match=message):
        RoutedDiTTransformer2DModel.from_config({**tiny_dit().config, **fields})


def test_expert_that_skips_every_unit_and_static_plan_export_and_run(tmp_path):
    model = BACKBONE_FACTORIES["unet_condition"]()
    adapter = adapter_for(model)
    units = adapter.discover_units()
    costs = profile_costs(adapter, units)
    sample = torch.randn(1, *adapter.sample_shape)
    condition = adapter.example_condition(1, 1)
    cases = {
        "skip-all": (torch.zeros(1, len(units)), torch.zeros(1000, dtype=torch.long), costs.fixed_macs),
        "static": (three_experts(len(units))[1:2], torch.zeros(1000, dtype=torch.long), None),
    }
    for name, (keep, assignment, expected_macs) in cases.items():
        routed = routed_copy(model, keep, assignment, tmp_path / name)
        plan = read_expert_config(tmp_path / name / "export")
        assert len(plan.experts) == 1 and len(plan.train_routing) == 1
        gates = GateController(model, units)
        with torch.no_grad(), gates.apply(keep[0], mode="hard"):
            expected = adapter.predict(sample, torch.tensor([700]), condition)
        gates.remove()
        with torch.no_grad():
            got = adapter_for(routed).predict(sample, torch.tensor([700]), condition)
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5, msg=name)
        executed, _ = count_macs(lambda: adapter_for(routed).predict(sample, torch.tensor([700]), condition))
        assert executed == pytest.approx(expected_macs or float(costs.macs(keep[0])), rel=1e-9)
    assert plan.macs.share == pytest.approx(float(costs.share(keep[0])))


def test_unknown_units_in_a_handmade_plan_are_rejected():
    with pytest.raises(BackboneError, match="not prunable units"):
        plan_from_masks(
            tiny_dit(),
            torch.ones(1, 1),
            torch.zeros(1000, dtype=torch.long),
            scheduler_config=SCHEDULE,
            units=["transformer_blocks.7"],
        )


def _tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8,),
        latent_channels=4,
        norm_num_groups=4,
        sample_size=8,
    ).eval()


def _saved_macs(pipeline_for, dense: torch.nn.Module, routed: torch.nn.Module) -> float:
    """MACs the routed backbone saves over the dense one across a whole pipeline call."""
    totals = []
    for backbone in (dense, routed):
        pipeline = pipeline_for(backbone)
        total, _ = count_macs(lambda: pipeline(generator=torch.Generator().manual_seed(0)))
        totals.append(total)
    return totals[0] - totals[1]


@pytest.mark.parametrize("family", ["stable_diffusion", "dit"])
def test_routed_backbone_is_a_drop_in_for_diffusers_pipelines(family, tmp_path):
    """The pipeline passes each scheduler timestep to the backbone; the routed one skips exactly its
    expert's units at every step (both guidance halves), so the MACs saved over the pipeline call are
    the sum over steps of the skipped units' MACs."""
    steps, batch, tokens = 4, 2, 3
    if family == "stable_diffusion":
        dense = tiny_unet_condition(in_channels=4, out_channels=4, layers_per_block=1)
        vae = _tiny_vae()
        embeds = torch.randn(batch, tokens, 32, generator=torch.Generator().manual_seed(0))

        def pipeline_for(unet):
            pipe = StableDiffusionPipeline(
                vae=vae,
                text_encoder=None,
                tokenizer=None,
                unet=unet,
                scheduler=DDIMScheduler(**SCHEDULE, clip_sample=False, steps_offset=1),  # as SD ships it
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
            return lambda **kw: pipe(
                prompt_embeds=embeds,
                negative_prompt_embeds=torch.zeros_like(embeds),
                num_inference_steps=steps,
                guidance_scale=3.0,
                output_type="np",
                **kw,
            )

    else:
        dense = tiny_dit(num_classes=1000)  # DiTPipeline's null class is 1000
        vae = _tiny_vae()

        def pipeline_for(transformer):
            pipe = DiTPipeline(transformer=transformer, vae=vae, scheduler=DDIMScheduler(**SCHEDULE))
            return lambda **kw: pipe(
                class_labels=[1, 2], num_inference_steps=steps, guidance_scale=3.0, output_type="np", **kw
            )

    adapter = adapter_for(dense)
    units = adapter.discover_units()
    keep = three_experts(len(units))
    assignment = manual_assignment(3, 1000)
    routed = routed_copy(dense, keep, assignment, tmp_path)
    costs = profile_costs(adapter, units, condition_length=tokens)
    scheduler = DDIMScheduler(**SCHEDULE)
    scheduler.set_timesteps(steps)
    skipped = sum(
        float(costs.macs(torch.ones(len(units))) - costs.macs(keep[assignment[int(t)]]))
        for t in scheduler.timesteps
    )
    saved = _saved_macs(pipeline_for, dense, routed)
    assert saved == pytest.approx(2 * batch * skipped, rel=1e-9)  # x2: classifier-free guidance
    assert saved > 0


def test_export_into_a_diffusers_pipeline_folder_and_generate(tmp_path):
    """A backbone that came from a pipeline folder is exported as that pipeline with the routed
    backbone and the searched sampler; it loads back with alternas and generates."""
    transformer = tiny_dit()
    pipeline = DiTPipeline(transformer=transformer, vae=_tiny_vae(), scheduler=DDIMScheduler(**SCHEDULE))
    pipeline.save_pretrained(tmp_path / "base")
    transformer.save_pretrained(tmp_path / "finetuned")
    plan = plan_from_masks(
        transformer,
        three_experts(4),
        manual_assignment(3, 1000),
        scheduler_config=SCHEDULE,
        scheduler="ddim",
        steps=5,
    )
    config = RunConfig.model_validate({"model": {"backbone": str(tmp_path / "base")}})
    result = export_plan(plan, tmp_path / "finetuned", config, tmp_path / "export")
    assert result.pipeline == "DiTPipeline" and result.component == "transformer"

    loaded = load_experts(tmp_path / "export")
    assert isinstance(loaded, DiTPipeline)
    assert type(loaded.transformer) is RoutedDiTTransformer2DModel
    assert isinstance(loaded.scheduler, DDIMScheduler)
    first = generate_images(loaded, [1, 2, 3], steps=5, guidance_scale=1.0, seed=3, batch_size=2)
    again = generate_images(loaded, [1, 2, 3], steps=5, guidance_scale=1.0, seed=3, batch_size=2)
    assert first.shape == (3, 3, 8, 8) and torch.equal(first, again)
    assert 0.0 <= float(first.min()) and float(first.max()) <= 1.0

    for path in (tmp_path / "export").rglob("*"):  # portable: no path of the exporting machine
        if path.is_file() and path.suffix in (".json", ".yaml", ".md", ".txt"):
            text = path.read_text()
            assert str(tmp_path.resolve()) not in text and str(Path.home()) not in text, path
    index = yaml.safe_load((tmp_path / "export" / "model_index.json").read_text())
    assert index["_name_or_path"] == "base"  # the base pipeline's folder name, not its path

    with pytest.raises(CheckpointError, match="already exists"):
        export_plan(plan, tmp_path / "finetuned", config, tmp_path / "export")
    (tmp_path / "export" / "stale.txt").write_text("from the earlier export")
    export_plan(plan, tmp_path / "finetuned", config, tmp_path / "export", overwrite=True)
    assert not (tmp_path / "export" / "stale.txt").exists()  # an earlier export is replaced whole


def test_export_overwrite_never_replaces_a_folder_that_is_not_an_export(tmp_path):
    """`--overwrite` replaces an earlier export only: a folder of other files and a file are refused,
    and left exactly as they were."""

    transformer = tiny_dit()
    transformer.save_pretrained(tmp_path / "finetuned")
    plan = plan_from_masks(transformer, three_experts(4), manual_assignment(3, 1000), scheduler_config=SCHEDULE)
    config = RunConfig.model_validate({"model": {"backbone": str(tmp_path / "finetuned")}})
    unrelated = tmp_path / "photos"
    unrelated.mkdir()
    (unrelated / "holiday.jpg").write_bytes(b"not an export")
    with pytest.raises(CheckpointError, match="holds no earlier export"):
        export_plan(plan, tmp_path / "finetuned", config, unrelated, overwrite=True)
    assert [p.name for p in unrelated.iterdir()] == ["holiday.jpg"]
    assert (unrelated / "holiday.jpg").read_bytes() == b"not an export"
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me")
    with pytest.raises(CheckpointError, match="not a folder name to create"):
        export_plan(plan, tmp_path / "finetuned", config, a_file, overwrite=True)
    assert a_file.read_text() == "keep me"
    assert not list(tmp_path.glob(".*.tmp"))  # no partial export left behind


def test_a_bare_backbone_exports_the_routed_model_alone(tmp_path):
    model = BACKBONE_FACTORIES["unet"]()
    keep = three_experts(len(adapter_for(model).discover_units()))
    routed = routed_copy(model, keep, manual_assignment(3, 1000), tmp_path)
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == ["README.md", "experts.yaml", "unet"]
    assert type(routed).__name__ == "RoutedUNet2DModel"
