"""MACs counter check on the Stable Diffusion 2.1 UNet (random weights, meta device, no download).

The UNet is built from ``recipes/configs/sd21-unet.json`` (SD 2.1's published UNet config) at 96x96
latents (768 px) with 77 text tokens, batch 1. alternas' per-unit MACs plus the fixed part are
compared with a whole-model count made an independent way (``thop`` module hooks), and printed next
to the paper's numbers: Table 2's 38.04 T MACs for 50 steps (= 760.8 G per step, conv + linear) and
Table 1's 1384.2 G per step (which counts the attention matmuls as FLOPs, i.e. twice).

    python -m bench.macs
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from alternas.backbones import adapter_for, build_backbone
from alternas.macs import independent_macs, profile_costs

__all__ = ["bench_sd21_macs"]

SD21_CONFIG = Path(__file__).resolve().parent.parent / "recipes" / "configs" / "sd21-unet.json"
PAPER_TABLE2_GMACS = 760.8  # 38.04 T / 50 steps, conv + linear
PAPER_TABLE1_GMACS = 1384.2


def bench_sd21_macs(tokens: int = 77) -> dict[str, Any]:
    """Per-unit + fixed MACs against an independent count for SD 2.1's UNet; GMACs per step."""
    config = {k: v for k, v in json.loads(SD21_CONFIG.read_text()).items() if not k.startswith("_")}
    started = time.perf_counter()
    with torch.device("meta"):
        model = build_backbone("UNet2DConditionModel", config)
    adapter = adapter_for(model)
    units = adapter.discover_units()
    full = profile_costs(adapter, units, condition_length=tokens, convention="macs")
    conv_linear = profile_costs(adapter, units, condition_length=tokens, convention="conv_linear")
    independent = independent_macs(adapter, tokens, include_attention=True)
    independent_conv_linear = independent_macs(adapter, tokens, include_attention=False)
    attention = full.dense_macs - conv_linear.dense_macs
    kinds: dict[str, int] = {}
    for unit in units:
        kinds[unit.kind] = kinds.get(unit.kind, 0) + 1
    units_plus_fixed = sum(full.unit_macs) + full.fixed_macs
    return {
        "latent": [config["in_channels"], config["sample_size"], config["sample_size"]],
        "text_tokens": tokens,
        "units": len(units),
        "unit_kinds": kinds,
        "gmacs_units_plus_fixed": units_plus_fixed / 1e9,
        "gmacs_independent": independent / 1e9,
        "units_plus_fixed_vs_independent": units_plus_fixed / independent,
        "gmacs_conv_linear": conv_linear.dense_macs / 1e9,
        "gmacs_conv_linear_independent": independent_conv_linear / 1e9,
        "gmacs_attention_matmuls": attention / 1e9,
        "gmacs_fixed": full.fixed_macs / 1e9,
        "fixed_share": full.min_share,
        "paper_table2_gmacs": PAPER_TABLE2_GMACS,
        "conv_linear_vs_paper_table2": conv_linear.dense_macs / 1e9 / PAPER_TABLE2_GMACS,
        "gmacs_conv_linear_plus_2x_attention": (conv_linear.dense_macs + 2 * attention) / 1e9,
        "paper_table1_gmacs": PAPER_TABLE1_GMACS,
        "paper_table1_convention_vs_paper": (conv_linear.dense_macs + 2 * attention) / 1e9 / PAPER_TABLE1_GMACS,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    result = bench_sd21_macs()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
