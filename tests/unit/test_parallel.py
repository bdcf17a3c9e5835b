"""module_utils/parallel.py, the machinery of the list forms (psf.infra.domain, domain_info,
dnssec_info): results in input order whatever the order the threads finish in, at most ``workers``
items at once, one item's error in its own outcome while every other item runs to its end, every bad
item named before any work, one object a thread."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, PsfInfraError  # noqa: E402
from ansible_collections.psf.infra.plugins.module_utils.parallel import (  # noqa: E402
    PerThread,
    check_items,
    check_workers,
    failure_message,
    run_items,
)


def test_results_in_input_order_and_at_most_workers_at_once():
    running, peak, lock = 0, 0, threading.Lock()

    def work(index: int, item: float) -> dict:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(item)  # the later items finish first
        with lock:
            running -= 1
        return {"index": index, "thread": threading.current_thread().name}

    delays = [0.05 - i * 0.002 for i in range(20)]
    outcomes = run_items(delays, work, workers=4)
    assert [o.result["index"] for o in outcomes] == list(range(20))
    assert [o.index for o in outcomes] == list(range(20))
    assert peak == 4
    assert all(o.result["thread"].startswith("psf-infra-item") for o in outcomes)


def test_a_failing_item_stops_no_other():
    done = []

    def work(index: int, item: str) -> dict:
        if item == "bad":
            raise PsfInfraError("bad: the registrar said no", domain="bad")
        if item == "bug":
            raise KeyError("nameservers")
        time.sleep(0.01)
        done.append(item)
        return {"name": item}

    items = ["a", "bad", "b", "bug", "c"]
    outcomes = run_items(items, work, workers=2)
    assert sorted(done) == ["a", "b", "c"]
    assert [o.failed for o in outcomes] == [False, True, False, True, False]
    assert outcomes[1].error_fields() == {"failed": True, "msg": "bad: the registrar said no",
                                          "error": "PsfInfraError", "domain": "bad"}
    assert outcomes[3].error_fields()["msg"] == "KeyError: 'nameservers'"
    message = failure_message(outcomes, "domains", lambda o: f"{o.item} (tenant t)")
    assert message.startswith("2 of 5 domains failed")
    assert "bad (tenant t): the registrar said no" in message  # the name is not repeated
    assert "bug (tenant t): KeyError: 'nameservers'" in message


def test_every_bad_item_is_named_before_any_work():
    def check(index: int, item: str) -> str:
        if item.startswith("-"):
            raise InvalidInput("not a domain name", tenant=f"t{index}", file=f"t{index}.yml",
                               field=f"domains[{index}].name")
        return item.upper()

    assert check_items(["a", "b"], check) == ["A", "B"]
    with pytest.raises(InvalidInput) as one:
        check_items(["a", "-b"], check)
    assert str(one.value) == "t1.yml: tenant 't1': domains[1].name: not a domain name"
    with pytest.raises(InvalidInput) as two:
        check_items(["-a", "b", "-c"], check)
    assert str(two.value).startswith("2 items are wrong, nothing was changed: t0.yml: tenant 't0'")
    assert [error["field"] for error in two.value.fields["errors"]] == ["domains[0].name", "domains[2].name"]


def test_workers_bounds_and_one_object_a_thread():
    assert check_workers(None) == 8 and check_workers(1) == 1
    for wrong in (0, 65, -1):
        with pytest.raises(InvalidInput, match="workers must be 1 to 64"):
            check_workers(wrong)
    made = []
    cache = PerThread()

    def work(index: int, item: int) -> dict:
        client = cache.get("gandi", lambda: made.append(object()) or made[-1])
        time.sleep(0.01)
        return {"client": id(client), "thread": threading.get_ident()}

    outcomes = run_items(list(range(30)), work, workers=3)
    by_thread = {}
    for outcome in outcomes:
        by_thread.setdefault(outcome.result["thread"], set()).add(outcome.result["client"])
    assert all(len(clients) == 1 for clients in by_thread.values())
    assert len(made) == len(by_thread) <= 3
    assert run_items([], work) == []
