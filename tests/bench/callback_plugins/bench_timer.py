# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: writes each task's wall time and a few result fields to $BENCH_TIMER_FILE."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: bench_timer
type: aggregate
short_description: Task wall times for tests/bench (JSON lines in $BENCH_TIMER_FILE)
description: Records when each task starts and when its result arrives; used by tests/bench/bench_dns.py.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""

KEPT_FIELDS = ("changed", "failed", "msg", "messages_sent", "counts", "serial")


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._started = 0.0
        self._task = ""

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._started = time.perf_counter()
        self._task = task.get_name()

    def _record(self, result, **_ignored) -> None:
        entry = {"task": self._task, "seconds": time.perf_counter() - self._started}
        entry.update({field: result._result[field] for field in KEPT_FIELDS if field in result._result})
        items = result._result.get("results")
        if isinstance(items, list) and items:  # a loop (dns.yml's publish task): its items' counts
            entry["messages_sent"] = sum(item.get("messages_sent", 0) for item in items if isinstance(item, dict))
        with open(os.environ["BENCH_TIMER_FILE"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")

    v2_runner_on_ok = _record
    v2_runner_on_failed = _record
