"""Regenerate the weights that ship with alternas: the default digits teacher and the digits classifier.

    python scripts/ship_digits_weights.py [--device cuda]

The teacher of the default ``DigitsTeacherConfig`` is pretrained on ``--device`` (every random draw
comes from one seeded CPU generator, so the data stream is the same on every device; the arithmetic
differs between devices, so the weights match only on the same kind of machine), or read from the
alternas cache where an earlier run pretrained it. The classifier is trained on CPU, or read from the
cache. Both are written to ``alternas/weights/*.safetensors``, keyed by the hash of the config that
made them: a changed default config no longer matches the old file and is pretrained until this
script is run again.
"""

from __future__ import annotations

import argparse

from alternas.zoo.digits_classifier import ship_digits_classifier
from alternas.zoo.digits import DigitsTeacherConfig, ship_digits_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="where to pretrain the teacher: cpu, cuda or cuda:N")
    args = parser.parse_args()
    print(ship_digits_teacher(DigitsTeacherConfig(), args.device))
    print(ship_digits_classifier())


if __name__ == "__main__":
    main()
