"""Real-model quality metrics (Inception FID, CLIP score from local weights) and evaluation prompts."""

from __future__ import annotations

import pytest
import torch
from transformers import CLIPTextModel

from alternas.config import EvalConfig
from alternas.evaluation.prompts import evaluation_conditions
from alternas.quality.real_metrics import (
    INCEPTION_URL,
    ClipScore,
    load_clip,
    load_inception,
    real_quality_metrics,
)
from alternas.exceptions import ConfigError, DataError, MissingDependencyError
from alternas.pipelines import ReferenceSet, TextConditioner

from ._tiny_pipelines import save_tiny_clip, save_tiny_inception, tiny_text_config, tiny_tokenizer


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory):
    return save_tiny_inception(tmp_path_factory.mktemp("weights") / "inception.pt")


def _images(seed: int, count: int = 12) -> torch.Tensor:
    return torch.rand(count, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_inception_fid_is_zero_for_the_reference_itself_and_grows_with_a_shift(inception_file):
    real = _images(0)
    reference = ReferenceSet()
    reference.fill((real * 255).round().to(torch.uint8), [])
    config = EvalConfig(metrics=["fid"], inception_weights=str(inception_file))
    (fid,) = real_quality_metrics(["fid"], config, reference=reference, describe=str)
    assert fid.extractor.num_features == 32
    same = fid.score((real * 255).round() / 255, [])["fid"]
    near = fid.score((real * 0.9 + 0.05), [])["fid"]
    far = fid.score(real * 0.3, [])["fid"]
    assert abs(same) < 1e-3 and 0 < near < far


def test_inception_features_take_uint8_or_unit_floats(inception_file):
    extractor = load_inception(str(inception_file))
    pixels = (_images(1, 3) * 255).round().to(torch.uint8)
    assert torch.equal(extractor(pixels), extractor(pixels.float() / 255))


def test_missing_or_wrong_inception_weights_say_what_to_do(tmp_path, hermetic_cache):
    with pytest.raises(MissingDependencyError, match=rf"weights/inception-2015-12-05.pt.*{INCEPTION_URL}"):
        load_inception(None)
    (tmp_path / "bad.pt").write_bytes(b"not torchscript")
    with pytest.raises(ConfigError, match="is not a TorchScript Inception model"):
        load_inception(str(tmp_path / "bad.pt"))


def test_clip_score_is_torchmetrics_clip_score_of_the_local_model(tmp_path):
    model, processor = load_clip(str(save_tiny_clip(tmp_path / "clip")))
    images = _images(2, 4)
    prompts = ["a red cat", "a blue dog", "grass", "the sky"]
    metric = ClipScore(model, processor, describe=str, batch_size=3)
    score = metric.score(images, prompts)["clip"]

    pixels = processor(images=list((images * 255).round().to(torch.uint8)), return_tensors="pt")["pixel_values"]
    tokens = processor(text=prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        output = model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask, pixel_values=pixels)
    cosine = torch.nn.functional.cosine_similarity(output.image_embeds, output.text_embeds)
    assert score == pytest.approx(max(float(100 * cosine.mean()), 0.0), abs=1e-3)
    with pytest.raises(ConfigError, match="needs prompts or named classes"):
        ClipScore(model, processor, describe=lambda condition: None).score(images, prompts)


def test_missing_clip_model_and_unsupported_metrics_are_clear_errors(tmp_path):
    with pytest.raises(MissingDependencyError, match="Set `eval.clip_model` to a folder"):
        load_clip(str(tmp_path / "no-clip"))
    with pytest.raises(ConfigError, match=r"has \['accuracy'\], which real models do not offer"):
        real_quality_metrics(["accuracy"], EvalConfig(), reference=ReferenceSet(), describe=str)
    with pytest.raises(DataError, match="FID needs real images"):
        real_quality_metrics(["fid"], EvalConfig(), reference=ReferenceSet(), describe=str)


def test_prompts_file_is_cycled_and_text_models_need_prompts(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red cat\n\n  a blue dog  \n")
    tokenizer = tiny_tokenizer(tmp_path / "vocab")
    conditioner = TextConditioner(tokenizer, CLIPTextModel(tiny_text_config(len(tokenizer))), ReferenceSet())
    config = EvalConfig(num_samples=5, prompts_file=str(prompts))
    assert evaluation_conditions(conditioner, config) == ["a red cat", "a blue dog"] * 2 + ["a red cat"]
    with pytest.raises(ConfigError, match="needs evaluation prompts: set `eval.prompts_file`"):
        evaluation_conditions(conditioner, EvalConfig(num_samples=2))
    conditioner.reference.fill(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), ["a green dog"])
    assert evaluation_conditions(conditioner, EvalConfig(num_samples=2)) == ["a green dog"] * 2
    prompts.write_text("\n \n")
    with pytest.raises(ConfigError, match="holds no prompt"):
        evaluation_conditions(conditioner, config)
    with pytest.raises(ConfigError, match="does not exist"):
        evaluation_conditions(conditioner, EvalConfig(prompts_file=str(tmp_path / "absent.txt")))
