"""The Ray cluster of a search: who can reach it, and a cluster that cannot be joined."""

from __future__ import annotations

import ipaddress
import socket

import psutil
import pytest
import yaml

from alternas.rundir import SearchRunDir

from .conftest import cli_output, marked_ray_processes, start_search, tiny_recipe, wait_for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_address_leaves_no_run_to_overwrite(tmp_path, capsys):
    data = tiny_recipe(tmp_path)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there

    for _ in range(2):  # the second attempt needs no --overwrite
        code, output = cli_output(capsys, "search", str(recipe_file), "--address", address, "--no-report")
        assert code == 2, output
        assert f"cannot join the Ray cluster at `{address}`" in output and "Traceback" not in output
        assert not SearchRunDir(data["output_dir"]).root.exists()


def _listening(pids: set[int]) -> list[tuple[int, str, int]]:
    return [
        (c.pid, c.laddr.ip, c.laddr.port)
        for c in psutil.net_connections("inet")
        if c.status == psutil.CONN_LISTEN and c.pid in pids
    ]


def _auth_mode(process: psutil.Process, driver_pid: int, gcs: psutil.Process) -> str | None:
    """``RAY_AUTH_MODE`` a process runs with. Ray workers rewrite their title, which blanks their
    ``/proc`` environment, so it is read from the nearest ancestor whose environment is readable; the
    driver's ``/proc`` environment is the one it was started with, so for the driver (which set the
    mode before starting the cluster) it is the one the GCS it spawned inherited."""
    current: psutil.Process | None = process
    while current is not None and current.pid != driver_pid:
        environment = current.environ()
        if environment:
            return environment.get("RAY_AUTH_MODE")
        current = current.parent()
    return gcs.environ().get("RAY_AUTH_MODE")


@pytest.mark.slow
def test_a_running_search_accepts_only_token_authenticated_peers(tmp_path):
    """Ray 2.60 binds its gRPC servers to every interface (it has no loopback option), so every Ray
    process listening outside 127.0.0.0/8 must run with token authentication; no dashboard runs.
    (Ray >= 2.60 turns token authentication on for a new local cluster; this guards against losing it.)"""
    data = tiny_recipe(tmp_path)
    data["train"].update(steps=400, hypernet_steps=300, checkpoint_every=400, log_every=50)
    data["search"].update(num_trials=1, max_concurrent_trials=1)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(data))
    layout = SearchRunDir(data["output_dir"])
    process, marker = start_search(recipe_file)
    try:
        wait_for(lambda: any(r.status == "running" for r in layout.records()), 600, process)
        roots = [psutil.Process(pid) for pid in marked_ray_processes(marker)] + [psutil.Process(process.pid)]
        tree = {p.pid: p for root in roots for p in [root, *root.children(recursive=True)]}
        sockets = _listening(set(tree))
        assert sockets, "no Ray socket found"
        for pid, ip, port in sockets:
            print(tree[pid].name(), ip, port)
            assert port != 8265, "the Ray dashboard is running"
            if not ipaddress.ip_address(ip).is_loopback:
                mode = _auth_mode(tree[pid], process.pid, roots[0])
                assert mode == "token", (tree[pid].name(), ip, port)
    finally:
        process.kill()
        process.wait()
    wait_for(lambda: not marked_ray_processes(marker), 60)
