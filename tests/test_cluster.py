"""A search on a real two-node Ray cluster started with ``ray start`` and token authentication.

Both nodes run on this machine with one CPU each, so the two trials must land on different nodes.
The cluster is torn down by killing exactly the processes that carry this test's marker (and their
descendants), never with ``ray stop``, which would also stop other Ray clusters of the same user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest
import yaml

from alternas.rundir import SearchRunDir

from .test_recipe import tiny_recipe

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _marked(marker: str) -> dict[int, psutil.Process]:
    """Processes started with ``ALTERNAS_TEST_MARK=marker`` (Ray's node daemons) and all their descendants."""
    roots = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("ALTERNAS_TEST_MARK") == marker:
                roots.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    found = {}
    for root in roots:
        try:
            found.update({p.pid: p for p in [root, *root.children(recursive=True)]})
        except psutil.NoSuchProcess:
            continue
    return found


def _stop_cluster(marker: str) -> None:
    for process in _marked(marker).values():
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    deadline = time.monotonic() + 30
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.5)


def _ray_start(env: dict[str, str], *arguments: str) -> None:
    command = [str(BIN / "ray"), "start", "--num-cpus=1", "--num-gpus=0", "--disable-usage-stats", *arguments]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_a_search_runs_its_trials_on_both_nodes_of_a_token_cluster(tmp_path):
    marker, token = uuid.uuid4().hex, secrets.token_hex(16)
    cluster_env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    cluster_env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, ALTERNAS_TEST_MARK=marker, COLUMNS="200")
    address = f"127.0.0.1:{_free_port()}"
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths live under it
    data = tiny_recipe(tmp_path)
    data["search"].update(num_trials=2, max_concurrent_trials=2, cpus_per_trial=1)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    search = [str(BIN / "alternas"), "search", str(recipe_file), "--address", address, "--no-report"]
    try:
        _ray_start(cluster_env, "--head", f"--port={address.split(':')[1]}", "--include-dashboard=false",
                   f"--temp-dir={temp_dir}")
        _ray_start(cluster_env, f"--address={address}")

        # without --address, a search starts a local Ray of its own beside the running cluster (which
        # `ray start` recorded in the Ray temp folder that RAY_TMPDIR names) and leaves the cluster alone
        daemons = {pid: p.name() for pid, p in _marked(marker).items() if p.name() in ("gcs_server", "raylet")}
        assert sorted(daemons.values()) == ["gcs_server", "raylet", "raylet"]
        plain = tiny_recipe(tmp_path / "plain")
        plain["search"].update(num_trials=2, max_concurrent_trials=2, cpus_per_trial=1)
        plain_file = tmp_path / "plain.yaml"
        plain_file.write_text(yaml.safe_dump(plain))
        plain_env = {**cluster_env, "RAY_TMPDIR": temp_dir}
        del plain_env["ALTERNAS_TEST_MARK"]
        done = subprocess.run([str(BIN / "alternas"), "search", str(plain_file), "--no-report"], env=plain_env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert [r.status for r in SearchRunDir(plain["output_dir"]).records()] == ["finished", "finished"]
        assert '"cluster": "local"' in SearchRunDir(plain["output_dir"]).search_file.read_text()
        assert all(psutil.pid_exists(pid) for pid in daemons), "the running cluster was touched"

        # without the token settings: one clear message, none of Ray's per-retry warnings
        no_token = {k: v for k, v in cluster_env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        done = subprocess.run(search, env=no_token, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "gcs_client" not in done.stderr and "Traceback" not in done.stderr
        assert " ".join(done.stderr.split()).endswith(
            f"error: cannot join the Ray cluster at `{address}` (--address / RAY_ADDRESS): it requires token "
            "authentication; set RAY_AUTH_MODE=token and give its token (RAY_AUTH_TOKEN=<token>, "
            "RAY_AUTH_TOKEN_PATH=<file> or ~/.ray/auth_token; `ray get-auth-token` on the head node prints it)"
        )
        assert not SearchRunDir(data["output_dir"]).root.exists()

        done = subprocess.run(search, env=cluster_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        records = SearchRunDir(data["output_dir"]).records()
        assert [r.status for r in records] == ["finished", "finished"]
        assert len({r.node_id for r in records}) == 2 and all(len(r.node_id) == 56 for r in records)
        assert {r.hostname for r in records} == {socket.gethostname()}
        assert SearchRunDir(data["output_dir"]).search_file.read_text().count(f'"cluster": "{address}"') == 1
    finally:
        _stop_cluster(marker)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not _marked(marker), "a process of the cluster survived"
