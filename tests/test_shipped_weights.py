"""The default digits teacher and classifier come from weights shipped in the package, never trained here."""

from __future__ import annotations

import torch

from alternas._shipped import shipped_state, write_shipped_state
from alternas.zoo.digits_classifier import load_digits_classifier
from alternas.zoo.digits import DigitsTeacherConfig, digits_teacher_dir, load_digits_bundle


def test_the_default_teacher_loads_the_shipped_weights_without_pretraining(hermetic_cache):
    config = DigitsTeacherConfig()
    bundle = load_digits_bundle(config)
    # nothing was pretrained or cached for the default (the session's cache may hold other tests' teachers)
    assert digits_teacher_dir(config) == hermetic_cache / "teachers" / f"digits-{config.cache_key()}"
    assert not digits_teacher_dir(config).exists()
    assert bundle.source == f"builtin:digits (digits-{config.cache_key()})"
    state, info = shipped_state("digits-teacher", config.cache_key())
    loaded = bundle.backbone.state_dict()
    assert all(torch.equal(loaded[key.removeprefix("unet.")], value) for key, value in state.items() if key.startswith("unet."))
    assert info["config"] == config.model_dump()
    assert info["steps"] == config.pretrain_steps


def test_the_shipped_teacher_denoises_digits(hermetic_cache):
    """A trained teacher, not random weights: its noise prediction error at mid noise is far below 1."""
    from diffusers import DDPMScheduler

    from alternas.data.digits_data import load_digits_tensors

    bundle = load_digits_bundle()
    images, labels = load_digits_tensors()
    generator = torch.Generator().manual_seed(0)
    x0, y = images[:256], labels[:256]
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.full((len(x0),), 500)
    scheduler = DDPMScheduler.from_config(bundle.scheduler_config)
    with torch.no_grad():
        tokens = bundle.label_encoder(y)
        prediction = bundle.backbone(scheduler.add_noise(x0, noise, t), t, tokens).sample
    assert torch.nn.functional.mse_loss(prediction, noise).item() < 0.2


def test_the_default_classifier_is_shipped(hermetic_cache):
    classifier = load_digits_classifier()
    assert not (hermetic_cache / "classifiers").exists()
    assert classifier.held_out_accuracy > 0.9


def test_shipped_weights_are_used_only_for_the_config_that_made_them(tmp_path, monkeypatch):
    monkeypatch.setattr("alternas._shipped.SHIPPED_DIR", tmp_path)
    write_shipped_state("demo", "key-a", {"w": torch.arange(3.0)}, {"note": "made by a"})
    state, info = shipped_state("demo", "key-a")
    assert torch.equal(state["w"], torch.arange(3.0)) and info == {"note": "made by a"}
    assert shipped_state("demo", "key-b") is None
    assert shipped_state("other", "key-a") is None
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo.safetensors"]  # no temp file left
