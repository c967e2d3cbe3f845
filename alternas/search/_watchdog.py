"""Reaper of a local Ray cluster started by alternas: no Ray process outlives the driver.

Run as ``python _watchdog.py <driver pid>`` (a plain script: no package imports) with a pipe as
stdin, just before the driver calls ``ray.init()``. While the driver lives, the watchdog records its
Ray descendants (GCS, raylet, agents, workers) every :data:`POLL_S` seconds. The driver keeps the
pipe's write end open, so the watchdog reads end-of-file when the driver closes it (after
``ray.shutdown()``) or dies, whatever killed it (SIGKILL included). It then terminates, and after a
grace period kills, every recorded process still running. Processes are recorded by ancestry rather
than by environment because Ray rewrites its processes' titles, which overwrites their
``/proc/<pid>/environ``; a recorded process whose pid was reused is recognised by psutil and spared.
"""

from __future__ import annotations

import os
import select
import signal
import sys

import psutil

#: seconds between two recordings of the driver's Ray descendants
POLL_S = 0.5
#: seconds between SIGTERM and SIGKILL for a process that does not exit
GRACE_S = 3.0


def is_ray_process(process: psutil.Process) -> bool:
    """Whether ``process`` belongs to Ray (its executable or title names Ray)."""
    try:
        command = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return command.startswith("ray::") or f"{os.sep}ray{os.sep}" in command


def record(driver: psutil.Process, known: dict[int, psutil.Process]) -> bool:
    """Add the driver's current Ray descendants to ``known``; ``False`` once the driver is gone."""
    try:
        children = driver.children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    for child in children:
        if child.pid != os.getpid() and child.pid not in known and is_ray_process(child):
            known[child.pid] = child
    return driver.is_running()


def reap(processes: list[psutil.Process]) -> None:
    """Terminate, then kill after :data:`GRACE_S`, every process of ``processes`` still running."""
    alive = [process for process in processes if process.is_running()]
    for process in alive:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            continue
    _, stubborn = psutil.wait_procs(alive, timeout=GRACE_S)
    for process in stubborn:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(stubborn, timeout=GRACE_S)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    known: dict[int, psutil.Process] = {}
    try:
        driver = psutil.Process(int(sys.argv[1]))
    except psutil.NoSuchProcess:
        return
    pipe = sys.stdin.fileno()
    while record(driver, known):
        readable, _, _ = select.select([pipe], [], [], POLL_S)
        if readable and not os.read(pipe, 4096):  # end-of-file: the driver is done or dead
            break
    reap(list(known.values()))


if __name__ == "__main__":
    main()
