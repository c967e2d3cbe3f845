"""Conditioners of real pipelines: prompts through a frozen text encoder (SD), class ids or names (DiT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..bundle import ClassLabelConditioner, Conditioner, ReferenceSet
from ..exceptions import ConfigError, DataError
from ._placement import place_frozen

__all__ = ["TextConditioner", "ClassNameConditioner", "describe_condition"]


class TextConditioner(Conditioner):
    """Prompts -> ``encoder_hidden_states`` with the pipeline's frozen tokenizer and text encoder.

    Prompts are padded/truncated to the tokenizer's ``model_max_length`` (77 for SD), as diffusers'
    Stable Diffusion pipelines do; the empty prompt is the null condition (classifier-free guidance and
    caption dropout), computed once per device.

    Args:
        tokenizer: the pipeline's tokenizer (``CLIPTokenizer`` for SD 1.x/2.x).
        text_encoder: the pipeline's text encoder (``CLIPTextModel``); its last hidden state is used.
        reference: the evaluation reference set; its captions are the default evaluation prompts.
        cuda_dtype: dtype of the text encoder on CUDA (the teacher's precision).
    """

    def __init__(
        self,
        tokenizer: Any,
        text_encoder: nn.Module,
        reference: ReferenceSet,
        cuda_dtype: torch.dtype = torch.float32,
    ) -> None:
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder.eval().requires_grad_(False)
        self.reference = reference
        self.cuda_dtype = cuda_dtype
        self.condition_length = int(tokenizer.model_max_length)
        self._null: dict[torch.device, torch.Tensor] = {}

    @property
    def hidden_size(self) -> int:
        """Width ``D`` of one token embedding (the UNet's ``cross_attention_dim``)."""
        return int(self.text_encoder.config.hidden_size)

    @torch.no_grad()
    def _embed(self, prompts: list[str], device: torch.device | str) -> torch.Tensor:
        place_frozen(self.text_encoder, device, self.cuda_dtype)
        tokens = self.tokenizer(
            prompts,
            padding="max_length",
            max_length=self.condition_length,
            truncation=True,
            return_tensors="pt",
        )
        mask = None
        if getattr(self.text_encoder.config, "use_attention_mask", False):
            mask = tokens.attention_mask.to(device)
        hidden = self.text_encoder(tokens.input_ids.to(device), attention_mask=mask)[0]
        return hidden.float()  # (B, L, D)

    def encode(self, conditions: Sequence[Any], device: torch.device | str) -> dict[str, torch.Tensor]:
        prompts = []
        for condition in conditions:
            if not isinstance(condition, str):
                raise DataError(f"a text-conditioned backbone needs prompts (str), got {condition!r}")
            prompts.append(condition)
        return {"encoder_hidden_states": self._embed(prompts, device)}

    def null(self, batch_size: int, device: torch.device | str) -> dict[str, torch.Tensor]:
        key = torch.device(device)
        if key not in self._null:
            self._null[key] = self._embed([""], key)
        return {"encoder_hidden_states": self._null[key].expand(batch_size, -1, -1)}

    def evaluation_conditions(self, count: int) -> list[Any]:
        """The captions of the evaluation reference set (the training data's first items), cycled.

        Raises:
            ConfigError: no training data was loaded and no prompts file is set.
        """
        prompts = self.reference.conditions
        if not prompts:
            raise ConfigError(
                "a text-conditioned backbone needs evaluation prompts: set `eval.prompts_file` (one "
                "prompt per line) or load training data with captions"
            )
        return [prompts[i % len(prompts)] for i in range(count)]


class ClassNameConditioner(ClassLabelConditioner):
    """Class labels given as ids (``207``, ``"207"``) or names (``"golden retriever"``), for DiT.

    Names come from the pipeline's ``id2label`` (``model_index.json`` of ``DiTPipeline``): every
    comma-separated synonym maps to its id, as ``DiTPipeline.get_label_ids`` does.

    Args:
        num_classes: number of real classes (DiT: ``num_embeds_ada_norm``).
        null_label: the "no class" id used for guidance (DiT: ``num_classes``), ``None`` if absent.
        id2label: class id -> comma-separated names, or ``None``.
    """

    def __init__(self, num_classes: int, null_label: int | None, id2label: dict[Any, str] | None = None) -> None:
        super().__init__(num_classes, null_label)
        self.id2label = {int(key): str(value) for key, value in (id2label or {}).items()}
        self.name_to_id = {
            name.strip(): key for key, value in self.id2label.items() for name in value.split(",") if name.strip()
        }

    def label_id(self, condition: Any) -> int:
        """The class id of one condition.

        Raises:
            DataError: an unknown name or an id outside ``0 .. num_classes - 1``.
        """
        if isinstance(condition, str) and condition.strip() in self.name_to_id:
            return self.name_to_id[condition.strip()]
        try:
            label = int(condition)
        except (TypeError, ValueError):
            known = f"; known names include {sorted(self.name_to_id)[:5]}" if self.name_to_id else ""
            raise DataError(f"class label {condition!r} is neither an id nor a known class name{known}") from None
        if not 0 <= label < self.num_classes:
            raise DataError(f"class label {label} is outside 0..{self.num_classes - 1}")
        return label

    def encode(self, conditions: Sequence[Any], device: torch.device | str) -> dict[str, torch.Tensor]:
        labels = [self.label_id(condition) for condition in conditions]
        return {"class_labels": torch.as_tensor(labels, dtype=torch.long, device=device)}


def describe_condition(conditioner: Conditioner, condition: Any) -> str | None:
    """The text a condition stands for (CLIP score): the prompt, or the first name of a class."""
    if isinstance(conditioner, TextConditioner):
        return str(condition)
    if isinstance(conditioner, ClassNameConditioner) and conditioner.id2label:
        return conditioner.id2label[conditioner.label_id(condition)].split(",")[0].strip()
    return None
