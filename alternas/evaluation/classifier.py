"""A small CNN trained on the digits: its features give FID, its logits class-consistency accuracy."""

from __future__ import annotations

import json
import logging

import torch
import torch.nn.functional as F
from torch import nn

from .._atomic import atomic_path, atomic_write_text
from .._cache import cache_root, config_hash, file_lock
from ..data.digits import load_digits_tensors

__all__ = ["DigitsClassifier", "load_digits_classifier"]

logger = logging.getLogger("alternas")
_FORMAT_VERSION = 1


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


def load_digits_classifier(resolution: int = 8, seed: int = 0, epochs: int = 30) -> DigitsClassifier:
    """The cached digits classifier for ``resolution``, trained on first use (a few seconds)."""
    key = config_hash({"format": _FORMAT_VERSION, "resolution": resolution, "seed": seed, "epochs": epochs})
    directory = cache_root() / "classifiers" / f"digits-{key}"
    weights = directory / "model.pt"
    if not weights.is_file():
        with file_lock(directory.with_name(directory.name + ".lock")):
            if not weights.is_file():
                model, accuracy = _train(resolution, seed, epochs)
                logger.info("digits classifier: held-out accuracy %.3f (cached in %s)", accuracy, directory)
                atomic_write_text(directory / "info.json", json.dumps({"held_out_accuracy": accuracy}))
                with atomic_path(weights) as partial:
                    torch.save(model.state_dict(), partial)
    model = DigitsClassifier(resolution)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.held_out_accuracy = json.loads((directory / "info.json").read_text())["held_out_accuracy"]
    return model.eval().requires_grad_(False)

