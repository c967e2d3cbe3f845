"""ALTER losses: backbone distillation ``L_U`` and the hypernetwork's budget and balance terms."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .config import LossConfig

__all__ = ["BackboneLoss", "budget_loss", "balance_loss"]


class BackboneLoss:
    """``L_U = w_d L_denoise + a_out L_outKD + a_feat L_featKD`` (all MSE, computed in float32).

    Args:
        config: the loss weights.
    """

    def __init__(self, config: LossConfig) -> None:
        self.config = config

    def __call__(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        teacher_prediction: torch.Tensor,
        features: Sequence[torch.Tensor],
        teacher_features: Sequence[torch.Tensor],
        snr_weights: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss and its parts.

        Args:
            prediction (`torch.Tensor` of shape `(B, C, H, W)`): the student's output.
            target: the denoising target (noise or velocity), same shape.
            teacher_prediction: the frozen teacher's output for the same input, same shape.
            features: student block outputs; teacher_features: the teacher's, in the same order.
            snr_weights (`torch.Tensor` of shape `(B,)`, *optional*): per-sample weights of the
                denoising term (min-SNR weighting).
        """
        prediction = prediction.float()
        total = prediction.new_zeros(())
        parts: dict[str, float] = {}
        if self.config.denoise > 0:
            per_sample = F.mse_loss(prediction, target.float(), reduction="none").flatten(1).mean(1)
            denoise = (per_sample * snr_weights).mean() if snr_weights is not None else per_sample.mean()
            total = total + self.config.denoise * denoise
            parts["denoise"] = denoise.item()
        if self.config.output_kd > 0:
            output_kd = F.mse_loss(prediction, teacher_prediction.float())
            total = total + self.config.output_kd * output_kd
            parts["output_kd"] = output_kd.item()
        if self.config.feature_kd > 0:
            feature_kd = torch.stack(
                [F.mse_loss(s.float(), t.float()) for s, t in zip(features, teacher_features)]
            ).mean()
            total = total + self.config.feature_kd * feature_kd
            parts["feature_kd"] = feature_kd.item()
        return total, parts


def budget_loss(achieved_share: torch.Tensor, target_share: float, eps: float = 1e-8) -> torch.Tensor:
    """Symmetric log-ratio ``log(max(S, p) / (min(S, p) + eps))`` between achieved and target cost."""
    target = torch.as_tensor(target_share, dtype=achieved_share.dtype, device=achieved_share.device)
    return torch.log(torch.maximum(achieved_share, target) / (torch.minimum(achieved_share, target) + eps))


def balance_loss(router_probs: torch.Tensor) -> torch.Tensor:
    """Switch-Transformer load balance ``N_e * sum_i F_i P_i``; only ``P`` carries gradient.

    Args:
        router_probs (`torch.Tensor` of shape `(T, N_e)`): router probabilities at the timesteps that
            count (the sampler's).
    """
    num_experts = router_probs.shape[-1]
    share = F.one_hot(router_probs.argmax(-1), num_experts).float().mean(0).detach()  # F, (N_e,)
    return num_experts * (share * router_probs.mean(0)).sum()
