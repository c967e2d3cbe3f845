"""The Ray cluster a search runs on: a local one alternas starts and always stops, or an existing one.

Local (the default): ``ray.init`` with only the CPUs the recipe allows
(``cpus_per_trial x max_concurrent_trials``), no dashboard and Ray's console output off. Ray 2.60
cannot bind its gRPC servers (GCS, raylet, workers) to loopback (``_node_ip_address=127.0.0.1`` is
replaced by the machine's address and the ports listen on every interface), so the cluster relies on
the token authentication that Ray >= 2.60 turns on for a new local cluster (``ray.init`` sets
``RAY_AUTH_MODE=token`` and keeps the token in ``~/.ray/auth_token``); a user's explicit
``RAY_AUTH_MODE=disabled`` switches it off, with Ray's warning. A watchdog
process (:mod:`alternas.search._watchdog`) kills whatever is left of that cluster once the driver is
gone, so no Ray process survives alternas, however it exits (``kill -9`` included).

Existing cluster: ``--address`` (or ``RAY_ADDRESS``) joins it and alternas only disconnects at the end.
A Python caller that initialized Ray itself (``ray.init`` before ``alternas.search``) keeps it: the
search runs on it and leaves it as it was.
A cluster started with token authentication (``ray start`` enables it by default) needs, on the machine
running ``alternas search``, ``RAY_AUTH_MODE=token`` and the cluster's token: ``RAY_AUTH_TOKEN=<token>``,
``RAY_AUTH_TOKEN_PATH=<file>``, or the file ``~/.ray/auth_token`` (``ray get-auth-token`` prints it on
the head node). The run directory must be on storage every node can reach (a shared file system);
the driver's ``ALTERNAS_*`` variables (e.g. ``ALTERNAS_CACHE``) are passed on to the trials.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import ray

from ..exceptions import ConfigError
from ..recipe import SearchSettings

__all__ = ["ray_cluster"]

#: the watchdog runs as a plain script, so it starts without importing torch or Ray
_WATCHDOG = Path(__file__).with_name("_watchdog.py")

#: seconds to wait for a TCP connection to a cluster's address before giving up
_PROBE_TIMEOUT_S = 10.0

#: Ray / Tune settings of a search (a user's own environment wins)
_RAY_ENVIRONMENT = {
    # progress results carry training metrics; the objectives come with the trial's last result
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    # trials write into the alternas run directory, not Tune's per-trial CSV/JSON/TensorBoard files
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    # save Tune's experiment state (trials, sampler) every second instead of every >= 10 s, so that a
    # driver killed with SIGKILL loses at most a second of trial starts and results on resume
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
    # trials keep the driver's working directory (every path in a resolved recipe is absolute anyway)
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    # no Tune console output of its own: alternas shows progress
    "RAY_AIR_NEW_OUTPUT": "0",
}


@contextlib.contextmanager
def ray_cluster(settings: SearchSettings, address: str | None = None) -> Iterator[str]:
    """Start (or join) Ray for a search and stop (or leave) it on exit, however the block exits.

    Args:
        settings: the recipe's search settings (CPUs and GPUs a local cluster may use).
        address: an existing cluster to join (``ray://`` or ``host:port``); ``None`` uses
            ``RAY_ADDRESS`` when set, else starts a local cluster.

    Yields:
        ``"local"``, the joined address, or ``"current"`` when this process had already initialized Ray
        itself (``ray.init`` in a Python user's code): then that Ray is used and left running.
    """
    for key, value in _RAY_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    if ray.is_initialized():  # a Python caller's own ray.init: search on that Ray and leave it running
        if address:
            raise ConfigError(
                f"Ray is already initialized in this process, so the search cannot join `{address}`; drop the "
                "address to search on the Ray this process uses, or call ray.shutdown() first"
            )
        _silence_tune()
        yield "current"
        return
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        forwarded = {key: value for key, value in os.environ.items() if key.startswith("ALTERNAS_")}
        with tempfile.TemporaryFile(mode="w+b") as ray_log:
            try:
                _probe(address)
                with _stderr_to(ray_log):
                    ray.init(address=address, runtime_env={"env_vars": forwarded}, **quiet)
            except (ConnectionError, RuntimeError) as error:
                ray_log.seek(0)
                raise ConfigError(_join_error(address, error, ray_log.read().decode(errors="replace"))) from error
        _silence_tune()
        try:
            yield address
        finally:
            ray.shutdown()
        return

    watchdog = subprocess.Popen(
        [sys.executable, str(_WATCHDOG), str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C on the terminal does not reach it
    )
    try:
        ray.init(
            address="local",  # always a new cluster of its own, even beside a running `ray start` one
            num_cpus=math.ceil(settings.cpus_per_trial * settings.max_concurrent_trials),
            num_gpus=None if settings.gpus_per_trial > 0 else 0,
            include_dashboard=False,
            **quiet,
        )
        _silence_tune()
        yield "local"
    finally:
        try:
            ray.shutdown()
        finally:
            watchdog.stdin.close()  # the watchdog reaps what is left, then exits
            watchdog.wait()


@contextlib.contextmanager
def _stderr_to(log: IO[bytes]) -> Iterator[None]:
    """Send file descriptor 2 to ``log`` for the block: Ray's C++ client logs a warning line per retry
    while it fails to reach or authenticate with a cluster; alternas reports the outcome once instead."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def _join_error(address: str, error: Exception, ray_log: str) -> str:
    """One message for a failed join: a refused token gets its own fix, anything else Ray's reason."""
    if "InvalidAuthToken" in ray_log or "Unauthenticated" in ray_log:
        fix = (
            "authentication and refused this machine's token; "
            if os.environ.get("RAY_AUTH_MODE") == "token"
            else "authentication; set RAY_AUTH_MODE=token and "
        )
        return (
            f"cannot join the Ray cluster at `{address}` (--address / RAY_ADDRESS): it requires token {fix}"
            "give its token (RAY_AUTH_TOKEN=<token>, RAY_AUTH_TOKEN_PATH=<file> or ~/.ray/auth_token; "
            "`ray get-auth-token` on the head node prints it)"
        )
    return (
        f"cannot join the Ray cluster at `{address}` (--address / RAY_ADDRESS): {error}. A cluster with token "
        "authentication also needs RAY_AUTH_MODE=token and its token here (RAY_AUTH_TOKEN or ~/.ray/auth_token)"
    )


def _probe(address: str) -> None:
    """Fail fast when nothing listens at a ``host:port`` (or ``ray://host:port``) address, instead of
    Ray's minutes of retries; other forms (``auto``) are left to Ray.

    Raises:
        ConnectionError: the TCP connection is refused or times out (``_PROBE_TIMEOUT_S``).
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise ConnectionError(f"nothing answers at {host}:{port} ({error.strerror or error})") from error


def _silence_tune() -> None:
    """Keep Tune's own log lines (trial errors with tracebacks, state snapshots) off the console: the
    progress display reports every trial, and a failed trial's traceback is in its ``trial.log``."""
    for name in ("ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
