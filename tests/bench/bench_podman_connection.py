"""Benchmark: psf.infra.podman (one ``podman exec -i`` per module) against containers.podman.podman
(the connection Molecule's podman driver and the lab used before: a temporary directory, a copy, a
chmod, a run and a clean-up per module), on one container of the project's image.

Run by ``make bench``, or alone: ``.venv/bin/python tests/bench/bench_podman_connection.py [--rounds N]``.
Not a test: it prints a table. The playbook is 40 module tasks (30 ``stat``, 5 ``copy`` that change
nothing after the first round, 5 ``command``); each connection runs it ``--rounds`` times (default 3),
alternating, and the table gives the median wall time, the CPU time of ansible-playbook and everything
it started (podman included), and the podman processes started per task (counted with -vvv).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
IMAGE = "localhost/psf-infra/debian-systemd:bookworm"
CONNECTIONS = ("psf.infra.podman", "containers.podman.podman")
TASKS = ([{"ansible.builtin.stat": {"path": "/etc/hostname"}}] * 30
         + [{"ansible.builtin.copy": {"content": "bench\n", "dest": "/root/bench.txt", "mode": "0644"}}] * 5
         + [{"ansible.builtin.command": "true", "changed_when": False}] * 5)


def run(directory: Path, container: str, connection: str) -> tuple[float, float, int]:
    inventory = directory / f"{connection}.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"box": {
        "ansible_host": container, "ansible_connection": connection,
        "ansible_python_interpreter": "/usr/bin/python3"}}}}))
    playbook = directory / "bench.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "box", "gather_facts": False, "tasks": TASKS}]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(BIN / "ansible-playbook"), "-vvv", "-i", str(inventory), str(playbook)],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=900)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{connection}: ansible-playbook failed\n{done.stdout[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    podman_runs = len(re.findall(r"(?:RUN \[b'[^']*podman'|EXEC \S*podman )", done.stdout))
    return wall, cpu, podman_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    container = f"psf-bench-conn-{uuid.uuid4().hex[:6]}"
    subprocess.run(["podman", "run", "-d", "--rm", "--network", "none", "--name", container,
                    "--entrypoint", "sleep", IMAGE, "infinity"], check=True, capture_output=True, timeout=300)
    figures: dict[str, list[tuple[float, float, int]]] = {name: [] for name in CONNECTIONS}
    try:
        with tempfile.TemporaryDirectory(prefix="psf-bench-conn-") as directory:
            for _ in range(rounds):
                for name in CONNECTIONS:
                    figures[name].append(run(Path(directory), container, name))
    finally:
        subprocess.run(["podman", "rm", "--force", "--time", "0", container], check=False, capture_output=True)
    print(f"{len(TASKS)} module tasks on one container, median of {rounds} runs")
    print(f"{'connection':<28}{'wall s':>9}{'CPU s':>9}{'podman runs/task':>18}")
    medians = {}
    for name, runs in figures.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        medians[name] = (wall, cpu)
        print(f"{name:<28}{wall:>9.1f}{cpu:>9.1f}{statistics.median(r[2] for r in runs) / len(TASKS):>18.1f}")
    ours, theirs = medians[CONNECTIONS[0]], medians[CONNECTIONS[1]]
    print(f"ratio containers.podman.podman / psf.infra.podman: wall {theirs[0] / ours[0]:.2f}x, "
          f"CPU {theirs[1] / ours[1]:.2f}x")


if __name__ == "__main__":
    main()
