"""Real training data: image folders, Hugging Face datasets, tar shards, and the pre-encoding cache."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from alternas.config import DataConfig, ModelConfig
from alternas.exceptions import DataError
from alternas.sources import load_bundle, load_training_set, preencode

from ._tiny_pipelines import (
    DIT_CLASSES,
    IMAGE_SIZE,
    captions,
    image,
    save_dit_pipeline,
    save_sd_pipeline,
    write_caption_folder,
    write_class_folder,
    write_tar_shards,
)

LATENTS = (4, IMAGE_SIZE // 8, IMAGE_SIZE // 8)


@pytest.fixture(scope="module")
def sd_bundle(tmp_path_factory):
    return load_bundle(ModelConfig(backbone=str(save_sd_pipeline(tmp_path_factory.mktemp("sd") / "p"))))


@pytest.fixture(scope="module")
def dit_bundle(tmp_path_factory):
    return load_bundle(ModelConfig(backbone=str(save_dit_pipeline(tmp_path_factory.mktemp("dit") / "p"))))


def _load(bundle, source, **options):
    return load_training_set(DataConfig(source=str(source), **options), bundle, LATENTS)


def test_caption_folder_is_encoded_once_into_a_memory_mapped_cache(sd_bundle, tmp_path, monkeypatch):
    folder = write_caption_folder(tmp_path / "images", 6)
    data = _load(sd_bundle, folder, reference_images=4, encode_batch_size=4)
    assert data.samples.shape == (6, *LATENTS) and data.samples.dtype == torch.float16
    hidden = data.conditions["encoder_hidden_states"]
    assert hidden.shape == (6, 16, 32) and hidden.dtype == torch.float16
    expected = sd_bundle.conditioner.encode(captions(6), "cpu")["encoder_hidden_states"]
    assert torch.allclose(hidden.float(), expected, atol=2e-3)
    pixels = torch.from_numpy(np.array(image(0))).permute(2, 0, 1)[None]  # image 0 is square already
    assert torch.equal(sd_bundle.reference.images[:1], pixels)
    latents = sd_bundle.encode(pixels.float() / 127.5 - 1)
    assert torch.allclose(data.samples[:1].float(), latents, atol=2e-3)

    reference = sd_bundle.reference
    assert reference.images.shape == (4, 3, IMAGE_SIZE, IMAGE_SIZE) and reference.images.dtype == torch.uint8
    assert reference.conditions == captions(4)
    assert sd_bundle.conditioner.evaluation_conditions(5) == captions(4) + captions(1)
    batch, condition = data.batch(torch.tensor([0, 5]), "cpu")
    assert batch.dtype == torch.float32 and condition["encoder_hidden_states"].dtype == torch.float32

    def no_encoding(*args, **kwargs):
        raise AssertionError("the VAE ran again: the cache was not reused")

    monkeypatch.setattr(sd_bundle.codec, "encode", no_encoding)
    again = _load(sd_bundle, folder, reference_images=4, encode_batch_size=4)
    assert torch.equal(again.samples, data.samples)
    with pytest.raises(AssertionError, match="the VAE ran again"):
        _load(sd_bundle, folder, reference_images=4, max_items=5)  # other data: a new encoding


def test_txt_captions_beside_images_match_metadata_jsonl(sd_bundle, tmp_path):
    jsonl = _load(sd_bundle, write_caption_folder(tmp_path / "a", 4, style="metadata"), cache_dtype="fp32")
    txt = _load(sd_bundle, write_caption_folder(tmp_path / "b", 4, style="txt"), cache_dtype="fp32")
    assert jsonl.samples.dtype == torch.float32
    assert torch.equal(jsonl.samples, txt.samples)
    assert torch.equal(jsonl.conditions["encoder_hidden_states"], txt.conditions["encoder_hidden_states"])


def test_class_subfolders_and_label_metadata_give_dit_labels(dit_bundle, tmp_path):
    data = _load(dit_bundle, write_class_folder(tmp_path / "classes", 2))
    assert data.labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert torch.equal(data.conditions["class_labels"], data.labels)

    for wnid in ("n02", "n01"):  # ImageNet-style folder names: ids in sorted order
        (tmp_path / "wnids" / wnid).mkdir(parents=True)
        image(0).save(tmp_path / "wnids" / wnid / "x.png")
    assert _load(dit_bundle, tmp_path / "wnids").labels.tolist() == [0, 1]

    folder = tmp_path / "named"
    folder.mkdir()
    rows = []
    for i, name in enumerate(["goldfish", "tiger shark", "0"]):
        image(i).save(folder / f"{i}.png")
        rows.append(json.dumps({"file_name": f"{i}.png", "species": name}))
    (folder / "metadata.jsonl").write_text("\n".join(rows))
    assert _load(dit_bundle, folder, label_column="species").labels.tolist() == [1, 3, 0]


def test_hugging_face_dataset_from_disk_with_caption_or_label_columns(sd_bundle, dit_bundle, tmp_path):
    features = datasets.Features(
        {"img": datasets.Image(), "caption": datasets.Value("string"),
         "fish": datasets.ClassLabel(names=[DIT_CLASSES[i] for i in range(4)])}
    )
    table = {"img": [image(i) for i in range(5)], "caption": captions(5), "fish": [3, 2, 1, 0, 3]}
    datasets.Dataset.from_dict(table, features=features).save_to_disk(str(tmp_path / "ds"))

    text = _load(sd_bundle, f"hf:{tmp_path / 'ds'}", image_column="img", caption_column="caption")
    expected = sd_bundle.conditioner.encode(captions(5), "cpu")["encoder_hidden_states"]
    assert torch.allclose(text.conditions["encoder_hidden_states"].float(), expected, atol=2e-3)
    labels = _load(dit_bundle, f"hf:{tmp_path / 'ds'}", image_column="img", label_column="fish")
    assert labels.labels.tolist() == [3, 2, 1, 0, 3]
    with pytest.raises(DataError, match=r"has no column `text` \(`data.caption_column`\); its columns are"):
        _load(sd_bundle, f"hf:{tmp_path / 'ds'}", image_column="img")
    with pytest.raises(DataError, match="has no column `image`"):
        _load(sd_bundle, f"hf:{tmp_path / 'ds'}", caption_column="caption")


def test_tar_shards_by_folder_file_or_glob(sd_bundle, dit_bundle, tmp_path):
    shards = write_tar_shards(tmp_path / "shards", 6, shards=2)
    by_folder = _load(sd_bundle, shards)
    by_glob = _load(sd_bundle, shards / "shard-*.tar")
    assert len(by_folder) == 6 and torch.equal(by_folder.samples, by_glob.samples)
    assert sorted(sd_bundle.reference.conditions) == sorted(captions(6))
    assert len(_load(sd_bundle, shards / "shard-0000.tar")) == 3
    assert sorted(_load(dit_bundle, shards).labels.tolist()) == sorted(i % 4 for i in range(6))


def test_preencode_writes_the_cache_a_run_then_reads(tmp_path):
    pipeline = save_sd_pipeline(tmp_path / "sd")
    folder = write_caption_folder(tmp_path / "images", 3)
    config = {"model": {"backbone": str(pipeline)},
              "data": {"source": str(folder), "resolution": IMAGE_SIZE, "cache_dir": str(tmp_path / "cache")}}
    directory = preencode(config)
    assert directory.parent == tmp_path / "cache"
    assert {p.name for p in directory.iterdir()} == {
        "samples.npy", "condition.encoder_hidden_states.npy", "reference.npy", "meta.json"}
    meta = json.loads((directory / "meta.json").read_text())
    assert meta["count"] == 3 and meta["sample_shape"] == list(LATENTS)
    assert np.load(directory / "samples.npy", mmap_mode="r").shape == (3, *LATENTS)


def test_encode_command_preencodes_a_recipe(tmp_path):
    from typer.testing import CliRunner

    from alternas.cli import app

    recipe = {
        "model": {"backbone": str(save_sd_pipeline(tmp_path / "sd"))},
        "data": {"source": str(write_caption_folder(tmp_path / "images", 2)), "cache_dir": str(tmp_path / "cache")},
        "space": {"experts": {"counts": [2], "partitions": ["learned"]}, "budget": {"macs_share": [0.8]}},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = CliRunner().invoke(app, ["encode", str(tmp_path / "recipe.yaml")])
    assert result.exit_code == 0, result.output
    (directory,) = [path for path in (tmp_path / "cache").iterdir() if path.is_dir()]
    assert "encoded 2 images at 64 px -> (4, 8, 8) samples" in " ".join(result.output.split())
    assert (directory / "meta.json").is_file()


def _corrupt(folder):
    (folder / "001.png").write_bytes(b"not a png")


def _no_captions(folder):
    (folder / "metadata.jsonl").unlink()


def _missing_file(folder):
    (folder / "002.png").unlink()


def _bad_jsonl(folder):
    (folder / "metadata.jsonl").write_text("{not json\n")


@pytest.mark.parametrize(
    "damage, message",
    [
        (_corrupt, "cannot read image `.*001.png`"),
        (_no_captions, "has no caption: add a `text` field in metadata.jsonl or a .txt caption"),
        (_missing_file, "metadata.jsonl lists 1 missing files"),
        (_bad_jsonl, "line 1 is not a JSON object with `file_name`"),
    ],
)
def test_broken_image_folders_are_clear_errors(sd_bundle, tmp_path, damage, message):
    folder = write_caption_folder(tmp_path / "images", 3)
    damage(folder)
    with pytest.raises(DataError, match=message):
        _load(sd_bundle, folder)


def test_empty_or_missing_sources_and_wrong_resolution_are_clear_errors(sd_bundle, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        _load(sd_bundle, tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        _load(sd_bundle, tmp_path / "nowhere")
    with pytest.raises(DataError, match="matches no .tar shards"):
        _load(sd_bundle, tmp_path / "*.tar")
    folder = write_caption_folder(tmp_path / "images", 2)
    with pytest.raises(DataError, match="`data.resolution` = 48 px does not give"):
        _load(sd_bundle, folder, resolution=48)
    Image.new("RGB", (8, 8)).save(folder / "tiny.png")  # no caption anywhere
    with pytest.raises(DataError, match="tiny.png` has no caption"):
        _load(sd_bundle, folder)
