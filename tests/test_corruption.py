"""Damaged run dirs and exports: every file truncated, garbled, emptied, made invalid UTF-8 or replaced
by JSON/YAML of another type, one at a time; `report`, `export` and `generate` exit 0 or 2 without a
traceback, and never lose a finished trial that is still readable.

One tiny finished run (two finished trials, one failed) and one export are built per module; each
case damages one file of a fresh copy. The damaged files are listed here and
:func:`test_every_file_is_damaged` checks that the list is every file the run and the export hold.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from alternas.api import train_alter
from alternas.export import export_experts
from alternas.report import build_report
from alternas.rundir import SearchRunDir, TrialRecord
from alternas.search.state import SearchState

from .conftest import cli_output

#: the trial whose files are damaged, and the intact copy that must survive any damage
DAMAGED, INTACT = "trial_a", "trial_b"

#: every file of the run dir except the intact trial's (training checkpoints are removed: only a
#: resumed training reads them)
RUN_FILES = [
    "recipe.yaml",
    "search.json",
    *(
        f"trials/{DAMAGED}/{name}"
        for name in (
            "trial.json",
            "config.yaml",
            "plan.yaml",
            "metrics.json",
            "quality_scores.pt",
            "history.json",
            "backbone/config.json",
            "backbone/diffusion_pytorch_model.safetensors",
            "samples/experts.png",
            "samples/teacher.png",
            "samples/conditions.json",
        )
    ),
    "trials/trial_f/trial.json",
]

#: every file of the export
EXPORT_FILES = [
    "README.md",
    "experts.yaml",
    "model_index.json",
    "scheduler/scheduler_config.json",
    "label_encoder/config.json",
    "label_encoder/diffusion_pytorch_model.safetensors",
    "unet/config.json",
    "unet/diffusion_pytorch_model.safetensors",
]


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _garble(data: bytes) -> bytes:
    garbled = bytearray(data)
    for index in range(len(garbled) // 3, len(garbled), 7):
        garbled[index] ^= 0x5A
    return bytes(garbled)


def _empty(data: bytes) -> bytes:
    return b""


def _invalid_utf8(data: bytes) -> bytes:
    return b"\xff\xfe\xc3\x28 not UTF-8 \x80" + data[:16]


def _other_type(data: bytes) -> bytes:
    """The same format holding another type: a list where a mapping was, a mapping otherwise."""
    parsed = yaml.safe_load(data.decode())
    return b"[1, 2, 3]\n" if isinstance(parsed, dict) else b'{"unexpected": "mapping"}\n'


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "truncated": _truncate,
    "garbled": _garble,
    "empty": _empty,
    "invalid_utf8": _invalid_utf8,
    "other_type": _other_type,
}


def _cases(files: list[str]) -> list:
    """One param per file and damage (``other_type`` only for JSON and YAML files)."""
    return [
        pytest.param(relative, damage, id=f"{relative}:{damage}")
        for relative in files
        for damage in DAMAGES
        if damage != "other_type" or Path(relative).suffix in (".json", ".yaml")
    ]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_digits_run_config) -> Path:
    """A finished search run dir: two finished trials (one trained, one its copy) and a failed one."""
    layout = SearchRunDir(tmp_path_factory.mktemp("corruption") / "run")
    result = train_alter(tiny_digits_run_config, run_dir=layout.trial_dir(DAMAGED))
    shutil.rmtree(layout.trial_dir(DAMAGED) / "checkpoints")
    shutil.copytree(layout.trial_dir(DAMAGED), layout.trial_dir(INTACT))
    for seed, trial_id in enumerate((DAMAGED, INTACT)):
        layout.write_record(
            TrialRecord(trial_id=trial_id, status="finished", seed=seed, feasible=True, metrics=result.metrics)
        )
    layout.write_record(TrialRecord(trial_id="trial_f", status="failed", seed=2, error="TrainingDiverged: nan"))
    layout.recipe_file.write_text(yaml.safe_dump({"name": "tiny", "report": {"quality_tolerance": 10.0}}))
    SearchState(
        name="tiny",
        recipe="tiny.yaml",
        recipe_hash="0",
        status="finished",
        sampler="nsga2",
        seed=0,
        quality_metric="fid",
        planned_trials=3,
        finished_trials=2,
        failed_trials=1,
    ).write(layout)
    return layout.root


@pytest.fixture(scope="module")
def exported(finished_run, tmp_path_factory) -> Path:
    """The export of the run's intact trial."""
    return export_experts(finished_run, tmp_path_factory.mktemp("export") / "experts", INTACT).out_dir


def _damaged_copy(source: Path, relative: str, damage: str, destination: Path) -> Path:
    """A copy of ``source`` whose file ``relative`` is damaged (a key of ``DAMAGES``) or ``"deleted"``."""
    shutil.copytree(source, destination)
    target = destination / relative
    if damage == "deleted":
        target.unlink()
    else:
        target.write_bytes(DAMAGES[damage](target.read_bytes()))
    return destination


def _assert_clean_exit(code: int, output: str) -> None:
    """Exit 0, or 2 with one error message; never a traceback."""
    assert code in (0, 2), output
    assert "Traceback" not in output, output
    assert code == 0 or "error:" in output, output


def test_every_file_is_damaged(finished_run, exported):
    def files(root: Path) -> set[str]:
        return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}

    assert files(finished_run) - {f for f in files(finished_run) if f.startswith(f"trials/{INTACT}/")} == set(
        RUN_FILES
    )
    assert files(exported) == set(EXPORT_FILES)


@pytest.mark.parametrize(("relative", "damage"), _cases(RUN_FILES))
def test_a_damaged_run_dir_reports_and_exports_without_losing_a_readable_trial(
    finished_run, tmp_path, capsys, relative, damage
):
    run = _damaged_copy(finished_run, relative, damage, tmp_path / "run")
    code, output = cli_output(capsys, "report", str(run))
    _assert_clean_exit(code, output)
    if relative.startswith("trials/"):  # a damaged trial never hides the others
        assert code == 0, output
        assert INTACT in output, output
    else:
        assert code == 0 or relative in output, output
    code, output = cli_output(capsys, "export", str(run), "--out", str(tmp_path / "export"))
    _assert_clean_exit(code, output)


@pytest.mark.parametrize(("relative", "damage"), _cases(EXPORT_FILES))
def test_a_damaged_export_generates_or_says_which_file_is_broken(exported, tmp_path, capsys, relative, damage):
    export = _damaged_copy(exported, relative, damage, tmp_path / "export")
    code, output = cli_output(
        capsys, "generate", str(export), "--out", str(tmp_path / "grid.png"), "-n", "2", "--steps", "2"
    )
    _assert_clean_exit(code, output)


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_a_truncated_trial_record_is_listed_as_unreadable_and_never_wins(finished_run, tmp_path, capsys):
    run = _damaged_copy(finished_run, f"trials/{DAMAGED}/trial.json", "truncated", tmp_path / "run")
    report = build_report(run)
    assert report.entry(DAMAGED).status == "unreadable" and report.entry(DAMAGED).role == "failed"
    assert "trial.json" in report.entry(DAMAGED).error
    assert report.winner.trial_id == INTACT
    code, output = cli_output(capsys, "export", str(run), "--out", str(tmp_path / "x"), "--trial", DAMAGED)
    assert code == 2 and "trial.json" in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("search.json", "[]", "search.json"),
        (f"trials/{DAMAGED}/metrics.json", '{"steps": "four"}', "`steps`"),
        (f"trials/{DAMAGED}/history.json", '{"step": 1}', "history.json"),
        (f"trials/{DAMAGED}/trial.json", None, "names the trial"),  # the record of another trial
    ],
)
def test_wrong_types_in_a_run_dir_mark_the_trial_not_the_run(finished_run, tmp_path, relative, content, message):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    if content is None:
        _edit_json(run / relative, trial_id=INTACT)
    else:
        (run / relative).write_text(content)
    report = build_report(run)
    assert report.winner.trial_id is not None
    text = " ".join(f"{e.error} {e.damage}" for e in report.entries) + " ".join(value for _, value in report.protocol)
    assert message in text


@pytest.mark.parametrize("trial", ["../../other/trials/trial_b", "..", "/etc", f"x/../{INTACT}", "a\0b"])
def test_export_takes_only_a_trial_folder_of_this_run(finished_run, tmp_path, capsys, trial):
    code, output = cli_output(capsys, "export", str(finished_run), "--out", str(tmp_path / "x"), "--trial", trial)
    assert code == 2 and "not a trial id" in output, output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("out", ["file", "."])
def test_export_out_must_name_a_folder_to_create(finished_run, tmp_path, monkeypatch, capsys, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("not a folder")
    code, output = cli_output(capsys, "export", str(finished_run), "--out", out, "--trial", INTACT)
    assert code == 2 and "not a folder name to create" in output, output
    assert (tmp_path / "file").read_text() == "not a folder"


def _edit_file(path: Path, edit: Callable[[dict], None]) -> None:
    """Apply ``edit`` to the mapping in a JSON or YAML file."""
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(json.dumps(data) if path.suffix == ".json" else yaml.safe_dump(data))


@pytest.mark.parametrize(
    ("relative", "edit", "message"),
    [
        ("experts.yaml", lambda plan: plan["backbone"].pop("class_name"), "class_name"),
        ("model_index.json", None, "model_index.json"),
        ("unet/config.json", lambda config: config["expert_timesteps"][-1].update(last=10**12), "at most"),
    ],
)
def test_a_damaged_export_is_refused_before_allocating(exported, tmp_path, capsys, relative, edit, message):
    export = tmp_path / "export"
    shutil.copytree(exported, export)
    if edit is None:
        (export / relative).write_text("[1, 2]")
    else:
        _edit_file(export / relative, edit)
    code, output = cli_output(capsys, "generate", str(export), "--out", str(tmp_path / "grid.png"), "-n", "1")
    assert code == 2 and message in output and "Traceback" not in output, output


def test_user_text_with_markup_is_printed_as_text(finished_run, tmp_path, capsys):
    out = tmp_path / "[/x]" / "[bold]experts"
    code, output = cli_output(capsys, "export", str(finished_run), "--out", str(out), "--trial", INTACT)
    assert code == 0 and f"wrote {out}" in output, output


def test_the_search_summary_names_a_trial_left_out_for_a_damaged_record(finished_run, tmp_path, monkeypatch, capsys):
    import alternas.search
    from alternas.search import SearchResult

    run = _damaged_copy(finished_run, f"trials/{DAMAGED}/metrics.json", "truncated", tmp_path / "run")
    layout = SearchRunDir(run)
    state = SearchState.read(layout)
    monkeypatch.setattr(alternas.search, "search", lambda *args, **kwargs: SearchResult(run, state, layout.records(), []))
    code, output = cli_output(capsys, "search", str(tmp_path / "recipe.yaml"), "--no-report")
    assert code == 0 and f"trial {DAMAGED} is left out: `{layout.trial_dir(DAMAGED) / 'metrics.json'}` is damaged" in " ".join(
        output.split()
    ), output
    assert f"trial {INTACT} is left out" not in output


@pytest.mark.parametrize("damage", ["invalid_utf8", "other_type", "truncated"])
def test_resume_on_a_damaged_search_json_exits_2_before_ray_starts(tmp_path, capsys, damage):
    from .conftest import tiny_recipe

    recipe = tiny_recipe(tmp_path)
    layout = SearchRunDir(recipe["output_dir"])
    SearchState(
        name="tiny", recipe="r.yaml", recipe_hash="0", sampler="nsga2", seed=0, quality_metric="fid", planned_trials=4
    ).write(layout)
    layout.search_file.write_bytes(DAMAGES[damage](layout.search_file.read_bytes()))
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    code, output = cli_output(capsys, "search", str(tmp_path / "recipe.yaml"), "--resume")
    assert code == 2 and "search.json" in output and "Traceback" not in output, output


def test_the_report_never_writes_through_a_linked_figures_folder(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.png").write_bytes(b"not the report's")
    (run / "figures").symlink_to(target)
    code, output = cli_output(capsys, "report", str(run))
    assert code == 2 and "is a link or a file" in output, output
    assert [p.name for p in target.iterdir()] == ["keep.png"]
    assert (target / "keep.png").read_bytes() == b"not the report's"


def test_frontier_json_is_standard_json_and_report_md_escapes_the_name(finished_run, tmp_path, capsys):
    run = tmp_path / "<img src=x onerror=alert(1)>"
    shutil.copytree(finished_run, run)
    _edit_json(run / "trials" / INTACT / "metrics.json", speedup=float("inf"), psnr=float("nan"))
    code, output = cli_output(capsys, "report", str(run))
    assert code == 0, output

    def refuse(constant: str) -> None:
        raise AssertionError(f"frontier.json holds {constant}")

    frontier = json.loads((run / "frontier.json").read_text(), parse_constant=refuse)
    assert next(t for t in frontier["trials"] if t["trial_id"] == INTACT)["metrics"]["speedup"] is None
    heading = (run / "report.md").read_text().splitlines()[0]
    assert heading == "# alternas report: &lt;img src=x onerror=alert(1)&gt;"  # paths elsewhere are in code spans


def test_damage_costs_only_what_the_file_held_and_is_named(finished_run, tmp_path, capsys):
    """A damaged history.json costs the curves, not the trial; a deleted metrics.json leaves the trial
    unscored with the reason; a deleted trial.json lists the trial with the reason; each file is named."""
    run = _damaged_copy(finished_run, f"trials/{DAMAGED}/history.json", "garbled", tmp_path / "curves")
    entry = build_report(run).entry(DAMAGED)
    assert entry.status == "finished" and entry.role in ("front", "dominated") and entry.history == []
    assert "history.json" in entry.damage and "curves are lost" in entry.damage
    code, output = cli_output(capsys, "report", str(run))
    assert code == 0 and "history.json" in output

    run = _damaged_copy(finished_run, f"trials/{DAMAGED}/metrics.json", "deleted", tmp_path / "no-metrics")
    entry = build_report(run).entry(DAMAGED)
    assert entry.role == "unscored" and "metrics.json` is missing" in entry.damage
    code, output = cli_output(capsys, "report", str(run))
    assert code == 0 and "metrics.json` is missing" in output

    run = _damaged_copy(finished_run, f"trials/{DAMAGED}/trial.json", "deleted", tmp_path / "no-record")
    entry = build_report(run).entry(DAMAGED)
    assert entry.status == "unreadable" and "trial.json` (the trial's record) is missing" in entry.error
    code, output = cli_output(capsys, "report", str(run))
    assert code == 0 and DAMAGED in output and "record) is missing" in output


@pytest.mark.parametrize(("name", "damage", "message"), [
    ("plan.yaml", lambda path: path.write_text("[1, 2]"), "` is damaged"),
    ("metrics.json", lambda path: path.unlink(), "` is missing"),
])
def test_export_names_the_damaged_files_when_no_trial_can_win(finished_run, tmp_path, capsys, name, damage, message):
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    for trial in (DAMAGED, INTACT):
        damage(run / "trials" / trial / name)
    code, output = cli_output(capsys, "export", str(run), "--out", str(tmp_path / "export"))
    assert code == 2 and "Traceback" not in output
    for trial in (DAMAGED, INTACT):
        assert f"trial {trial}: `{run / 'trials' / trial / name}{message}" in output, output
