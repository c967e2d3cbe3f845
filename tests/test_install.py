"""alternas installed as a wheel (not editable), outside the repository: it starts, finds its shipped
weights and writes a starting recipe that validates."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .conftest import ROOT


def _run(command: list[str], cwd: Path, **env: str) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": "", **env})
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_the_wheel_in_a_fresh_venv_writes_and_validates_the_starter_recipe(tmp_path):
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
          str(ROOT)], tmp_path)
    (wheel,) = wheels.glob("alternas-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], tmp_path)
    # the dependencies come from this suite's venv (installing them again would take minutes), after the
    # fresh venv's own site-packages, so `alternas` itself is the wheel's copy
    fresh_site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           tmp_path).strip())
    (fresh_site / "suite-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    location = _run([str(python), "-c", "import alternas; print(alternas.__file__)"], work)
    assert location.startswith(str(fresh_site)), location
    alternas = str(venv / "bin" / "alternas")
    _run([alternas, "init", "my-search.yaml"], work)
    assert (work / "my-search-space.yaml").is_file()
    out = _run([alternas, "validate", "my-search.yaml"], work)
    assert "valid: my-search.yaml" in out
    recipe = (work / "my-search.yaml").read_text()
    assert "space: my-search-space.yaml" in recipe and "output_dir: reports/my-search" in recipe
