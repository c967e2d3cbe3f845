"""A benchmark's result: printed as JSON and, when asked, written to a file with the same content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.output import emit_json


def test_the_file_holds_what_is_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = {"fid": 8.25, "steps": [3, 4], "nested": {"ok": True}}
    emit_json(result, tmp_path / "result.json")
    printed = capsys.readouterr().out
    written = (tmp_path / "result.json").read_text()
    assert written.endswith("}\n") and written == printed
    assert json.loads(written) == result
    emit_json(result, None)  # printing only: nothing else is written
    assert json.loads(capsys.readouterr().out) == result
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
