"""A small CNN trained on the digits: its features give FID, its logits class-consistency accuracy.

The default classifier's weights ship with the package (``alternas/weights/digits-classifier.safetensors``),
so FIDs are comparable across machines; other settings are trained on first use and cached.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._atomic import atomic_path, atomic_write_text
from .._cache import cache_root, config_hash, load_or_build
from .._shipped import shipped_state, write_shipped_state
from ..data.digits_data import load_digits_tensors

__all__ = ["DigitsClassifier", "load_digits_classifier", "ship_digits_classifier"]

logger = logging.getLogger("alternas")
_FORMAT_VERSION = 1
_SHIPPED_NAME = "digits-classifier"


class DigitsClassifier(nn.Module):
    """CNN over images in ``[0, 1]`` of shape ``(B, 1, R, R)``.

    Args:
        resolution: image side ``R``.
        feature_dim: width of the penultimate layer (the FID feature space).
    """

    def __init__(self, resolution: int = 8, feature_dim: int = 64) -> None:
        super().__init__()
        self.resolution = resolution
        self.num_features = feature_dim  # read by torchmetrics' FID
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(64 * 16, feature_dim),
            nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, 10)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape ``(B, feature_dim)``."""
        return self.body(images * 2 - 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """FID features (torchmetrics calls the feature extractor's forward)."""
        return self.features(images)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits, shape ``(B, 10)``."""
        return self.head(self.features(images))


def _train(resolution: int, seed: int, epochs: int) -> tuple[DigitsClassifier, float]:
    """Train on 80% of the digits with shift/noise augmentation; return the model and held-out accuracy."""
    generator = torch.Generator().manual_seed(seed)
    images, labels = load_digits_tensors(resolution)
    images = (images + 1) / 2
    order = torch.randperm(len(images), generator=generator)
    split = int(0.8 * len(images))
    train_idx, test_idx = order[:split], order[split:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitsClassifier(resolution)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(epochs):
        for batch in train_idx[torch.randperm(split, generator=generator)].split(128):
            x = images[batch]
            shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
            x = torch.roll(x, shifts=shift, dims=(2, 3))
            x = (x + 0.05 * torch.randn(x.shape, generator=generator)).clamp(0, 1)
            loss = F.cross_entropy(model.logits(x), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model.logits(images[test_idx]).argmax(1) == labels[test_idx]).float().mean().item()
    return model, accuracy


def _classifier_key(resolution: int, seed: int, epochs: int) -> str:
    return config_hash({"format": _FORMAT_VERSION, "resolution": resolution, "seed": seed, "epochs": epochs})


def _cached_classifier(resolution: int, seed: int, epochs: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """The weights and ``info`` of the cached classifier, trained first (a few seconds) if missing or damaged."""

    def train(directory: Path) -> None:
        model, accuracy = _train(resolution, seed, epochs)
        logger.info("digits classifier: held-out accuracy %.3f (cached in %s)", accuracy, directory)
        atomic_write_text(directory / "info.json", json.dumps({"held_out_accuracy": accuracy}))
        with atomic_path(directory / "model.pt") as partial:
            torch.save(model.state_dict(), partial)

    def load(directory: Path) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        state = torch.load(directory / "model.pt", map_location="cpu", weights_only=True)
        return state, json.loads((directory / "info.json").read_text())

    directory = cache_root() / "classifiers" / f"digits-{_classifier_key(resolution, seed, epochs)}"
    return load_or_build(directory, load, train, "digits classifier")


def ship_digits_classifier(resolution: int = 8, seed: int = 0, epochs: int = 30) -> Path:
    """Write the classifier of these settings (trained unless cached) as the shipped weights."""
    state, info = _cached_classifier(resolution, seed, epochs)
    return write_shipped_state(_SHIPPED_NAME, _classifier_key(resolution, seed, epochs), state, info)


def load_digits_classifier(resolution: int = 8, seed: int = 0, epochs: int = 30) -> DigitsClassifier:
    """The digits classifier for ``resolution``: the shipped weights for these settings, else trained and cached."""
    state, info = shipped_state(_SHIPPED_NAME, _classifier_key(resolution, seed, epochs)) or _cached_classifier(
        resolution, seed, epochs
    )
    model = DigitsClassifier(resolution)
    model.load_state_dict(state)
    model.held_out_accuracy = info["held_out_accuracy"]
    return model.eval().requires_grad_(False)
