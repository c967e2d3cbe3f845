"""The documentation (README.md, CHANGELOG.md, docs/*.md) cannot drift from the code: every relative link
resolves (an ``#anchor`` into a Markdown file names one of its headings, slugged as GitHub does), every
``alternas`` command shown in code names a real command and only its real options, every ``make`` target,
``python -m bench...`` module and repository path shown exists, docs/recipes.md is what
scripts/recipe_docs.py writes from the recipe's schema, and the README stays short."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 260

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_ALTERNAS = re.compile(r"(?:^|(?<=[\s/(;&|]))(?<![\w.-])alternas[ \t]+([a-z][a-z0-9-]*)")
_NOT_A_COMMAND_BEFORE = ("import", "install", "from")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
_MAKE = re.compile(r"(?:^|(?<=[\s;&|(]))make[ \t]+([a-z][\w-]*)")
_BENCH = re.compile(r"\bpython[0-9.]*[ \t]+-m[ \t]+(bench(?:\.[A-Za-z_]\w*)*)\b")
_REPO_PATH = re.compile(r"(?<![\w./~-])((?:alternas|bench|scripts|tests|run_configs|search_spaces|docs)/[^\s`'\"(),;:]*)")
_MAKE_TARGET = re.compile(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", re.M)


# ----------------------------------------------------------------------------------------------------------
# Parsing Markdown (the subset these files use)


def split_markdown(text: str) -> tuple[str, list[str], list[str]]:
    """``(prose, code blocks, inline code spans)``: prose has the code blocks removed and every inline
    code span replaced by a space; each inline span has its whitespace collapsed (spans may wrap)."""
    prose_lines, blocks, block = [], [], None
    for line in text.splitlines():
        if _FENCE.match(line):
            if block is None:
                block = []
            else:
                blocks.append("\n".join(block))
                block = None
        elif block is not None:
            block.append(line)
        else:
            prose_lines.append(line)
    if block is not None:
        blocks.append("\n".join(block))
    prose = "\n".join(prose_lines)
    spans = [" ".join(match.group(2).split()) for match in _INLINE_CODE.finditer(prose)]
    return _INLINE_CODE.sub(" ", prose), blocks, spans


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: inline markup and links reduced to their text, lower case,
    characters other than letters, digits, ``_``, ``-`` and spaces dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").lower().strip()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a Markdown text; a repeated slug gets ``-1``, ``-2``, ... as on GitHub."""
    seen: dict[str, int] = {}
    found, in_code = set(), False
    for line in text.splitlines():
        in_code ^= bool(_FENCE.match(line))
        match = None if in_code else _HEADING.match(line)
        if match is None:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def link_targets(text: str) -> list[str]:
    """Every link and image target outside code, inline and reference-style."""
    prose, _, _ = split_markdown(text)
    return [m.group(1) for m in _LINK.finditer(prose)] + [m.group(1) for m in _REFERENCE_LINK.finditer(prose)]


def broken_links(path: Path) -> list[str]:
    """The relative links of ``path`` that do not resolve, each with why."""
    problems = []
    for target in link_targets(path.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        if not resolved.exists():
            problems.append(f"{target}: {resolved} does not exist")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
            problems.append(f"{target}: no heading with the anchor #{anchor} in {resolved.name}")
    return problems


def _code_lines(text: str) -> list[str]:
    """Lines of code shown in ``text`` (blocks, with ``\\`` continuations joined, and inline spans)."""
    _, blocks, spans = split_markdown(text)
    lines = []
    for block in blocks:
        lines += re.sub(r"\\\n\s*", " ", block).splitlines()
    return lines + spans


def alternas_commands(text: str) -> dict[str, set[str]]:
    """``alternas <command>`` shown in code -> the ``--options`` shown with it."""
    commands: dict[str, set[str]] = defaultdict(set)
    for line in _code_lines(text):
        for match in _ALTERNAS.finditer(line):
            before = line[: match.start()].split()
            if before and before[-1] in _NOT_A_COMMAND_BEFORE:
                continue
            rest = re.split(r"\s#|\||;|&&|>", line[match.end():], maxsplit=1)[0]
            commands[match.group(1)].update(_FLAG.findall(rest))
    return commands


def make_targets(text: str) -> set[str]:
    return {target for line in _code_lines(text) for target in _MAKE.findall(line)}


def bench_modules(text: str) -> set[str]:
    return {module for line in _code_lines(text) for module in _BENCH.findall(line)}


def repository_paths(text: str) -> set[str]:
    """Paths into the repository's own folders shown in code (globs and placeholders left out)."""
    return {
        path.rstrip(".")
        for line in _code_lines(text)
        for path in _REPO_PATH.findall(line)
        if not any(char in path for char in "*<>{[")
    }


# ----------------------------------------------------------------------------------------------------------
# The checks on this repository's documentation


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def _shown(extract) -> dict[str, list[str]]:
    """What ``extract`` finds in the documentation -> the files that show it."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in DOC_FILES:
        for item in extract(path.read_text(encoding="utf-8")):
            where[item].append(path.relative_to(ROOT).as_posix())
    return where


@functools.cache
def _help(command: str) -> tuple[int, str]:
    """``alternas COMMAND --help``: exit code and output, through the installed entry point."""
    script = Path(sys.executable).with_name("alternas")
    argv = [str(script)] if script.is_file() else [sys.executable, "-c", "from alternas.cli import main; main()"]
    env = {**os.environ, "COLUMNS": "240", "NO_COLOR": "1", "TERM": "dumb"}
    result = subprocess.run([*argv, command, "--help"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    return result.returncode, result.stdout + result.stderr


def test_every_alternas_command_shown_exists_with_its_options():
    shown: dict[str, set[str]] = defaultdict(set)
    files: dict[str, set[str]] = defaultdict(set)
    for path in DOC_FILES:
        for command, options in alternas_commands(path.read_text(encoding="utf-8")).items():
            shown[command] |= options
            files[command].add(path.relative_to(ROOT).as_posix())
    assert {"search", "report", "export", "generate", "validate"} <= set(shown)  # the parser finds them
    problems = []
    for command in sorted(shown):
        code, output = _help(command)
        if code != 0:
            problems.append(f"`alternas {command}` (in {sorted(files[command])}): --help exits {code}")
            continue
        problems += [
            f"`alternas {command} {option}` (in {sorted(files[command])}): not an option"
            for option in sorted(shown[command])
            if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", output)
        ]
    assert problems == []


def test_every_make_target_shown_exists():
    targets = set(_MAKE_TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    shown = _shown(make_targets)
    assert {"quickstart", "test"} <= set(shown)
    assert {target: files for target, files in shown.items() if target not in targets} == {}


def test_every_bench_module_shown_exists():
    def exists(module: str) -> bool:
        path = ROOT.joinpath(*module.split("."))
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    shown = _shown(bench_modules)
    assert "bench.confirm" in shown
    assert {module: files for module, files in shown.items() if not exists(module)} == {}


def test_every_repository_path_shown_exists():
    shown = _shown(repository_paths)
    assert "scripts/recipe_docs.py" in shown
    assert {path: files for path, files in shown.items() if not (ROOT / path).exists()} == {}


def test_the_recipe_reference_is_generated_from_the_schema():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "recipe_docs.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_recipe_reference_check_fails_on_a_stale_page(tmp_path):
    stale = tmp_path / "recipes.md"
    stale.write_text((ROOT / "docs" / "recipes.md").read_text(encoding="utf-8").replace("| `backbone` |", "| `model` |"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "recipe_docs.py"), "--check", "--out", str(stale)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1 and "make docs" in result.stderr


def test_the_readme_is_read_in_five_minutes():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


# ----------------------------------------------------------------------------------------------------------
# The checks can fail


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path):
    (tmp_path / "other.md").write_text(
        "# Other page\n\n## What is counted as MACs?\n\n## Notes\n\n## Notes\n\n```bash\n# comment\n```\n"
    )
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\nSee [other](other.md#what-is-counted-as-macs), [twice](other.md#notes-1), [self](#page),\n"
        "[gone](missing.md), [bad anchor](other.md#nothing), [code](other.md#comment), ![figure](img.png) and\n"
        "[web](https://example.com).\n\n"
        "```bash\n[in code](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        f"missing.md: {tmp_path / 'missing.md'} does not exist",
        "other.md#nothing: no heading with the anchor #nothing in other.md",
        "other.md#comment: no heading with the anchor #comment in other.md",
        f"img.png: {tmp_path / 'img.png'} does not exist",
    ]


@pytest.mark.parametrize(
    "heading, slug",
    [
        ("What is counted as MACs", "what-is-counted-as-macs"),
        ("At 50% of the MACs per step, ALTER vs `Static`", "at-50-of-the-macs-per-step-alter-vs-static"),
        ("report.baseline", "reportbaseline"),
        ("[Unreleased]", "unreleased"),
        ("Against the dense DDIM front: 7-8 steps", "against-the-dense-ddim-front-7-8-steps"),
    ],
)
def test_headings_slug_as_on_github(heading, slug):
    assert github_slug(heading) == slug


def test_commands_targets_and_modules_are_read_from_code_only():
    text = (
        "Run `alternas report RUN_DIR --winner knee` or `make docs`; alternas search in prose is not code.\n\n"
        "```bash\n.venv/bin/alternas search recipes/x.yaml --resume   # --not-an-option in a comment\n"
        "alternas export run \\\n  --out experts/x --trial 3\nALTERNAS_DEPS=latest make test\n"
        "python -m bench.confirm run --samples 1000\n.venv/bin/python -m bench --quick\n```\n\n"
        "```python\nimport alternas\nalternas.run_search('x.yaml')\n```\n"
    )
    assert alternas_commands(text) == {"report": {"--winner"}, "search": {"--resume"}, "export": {"--out", "--trial"}}
    assert make_targets(text) == {"docs", "test"}
    assert bench_modules(text) == {"bench.confirm", "bench"}
