# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: per-play and per-task wall times of a whole playbook run, in $FLEET_TIMER_FILE."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: fleet_timer
type: aggregate
short_description: Play and task wall times for tests/bench/bench_fleet.py (JSON lines in $FLEET_TIMER_FILE)
description:
  - A task lasts from its start to the start of the next task (or the end of its play), all its hosts and
    loop items, its templating and its result handling included, like profile_tasks.
  - Also writes each play's time and changed count, and the whole playbook's
    (from the callback's load, after the inventory).
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleet_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._play = ""
        self._play_index = -1
        self._task: dict | None = None
        self._play_started = 0.0
        self._changed: dict[int, int] = {}
        self._started = time.perf_counter()

    def _write(self, entry: dict) -> None:
        """Each entry as soon as it is known: a run stopped by --timeout keeps what it measured."""
        with open(os.environ["FLEET_TIMER_FILE"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def _close_task(self, now: float) -> None:
        if self._task is not None:
            self._task["seconds"] = now - self._task.pop("_start")
            self._write(self._task)
            self._task = None

    def _close_play(self, now: float) -> None:
        self._close_task(now)
        if self._play_index >= 0:
            self._write({"kind": "play", "play": self._play, "index": self._play_index,
                                  "seconds": now - self._play_started,
                                  "changed": self._changed.get(self._play_index, 0)})

    def v2_playbook_on_play_start(self, play) -> None:
        now = time.perf_counter()
        self._close_play(now)
        self._play_index += 1
        self._play = play.get_name()
        self._play_started = now

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        now = time.perf_counter()
        self._close_task(now)
        self._task = {"kind": "task", "play": self._play, "index": self._play_index, "task": task.get_name(),
                      "_start": now, "changed": 0}

    v2_playbook_on_handler_task_start = v2_playbook_on_task_start

    def v2_runner_on_ok(self, result, **_ignored) -> None:
        if result._result.get("changed") and self._task is not None:
            self._task["changed"] += 1
            self._changed[self._play_index] = self._changed.get(self._play_index, 0) + 1

    def v2_playbook_on_stats(self, stats) -> None:
        now = time.perf_counter()
        self._close_play(now)
        changed = sum(stats.summarize(host)["changed"] for host in stats.processed)
        self._write({"kind": "total", "seconds": now - self._started, "changed": changed})
