# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of psf.infra.dns_zone: runs the module's code inside ansible-playbook on the controller.

A DNS task talks to the name servers over the network, so it normally runs on the controller
(``hosts: localhost`` or ``delegate_to: localhost``). Shipping it as a module there costs more than the
DNS work for a big zone: the arguments (10,000 records) are serialised into an AnsiballZ payload, a
new Python starts, imports dnspython and validates every record against the argument spec again.
Here, when the task's connection is ``local`` without ``become``, the same
``module_utils.dns.zone_task.run_dns_zone`` runs in this process instead, after the same argument
checks. Anywhere else (a remote host, ``become``, an ``async`` task, libraries missing on the
controller, or ``psf_dns_in_process: false``) the module is shipped as usual. Both paths return
the same result.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible_collections.psf.infra.plugins.module_utils.dns.options import DNS_ZONE
from ansible_collections.psf.infra.plugins.module_utils.errors import PsfInfraError

try:  # ansible-core 2.19's templating; before 2.19 finalize_task_arg (below) is never called
    from ansible._internal._templating._jinja_bits import is_possibly_all_template, is_possibly_template
except ImportError:
    is_possibly_all_template = is_possibly_template = None

try:
    from ansible_collections.psf.infra.plugins.module_utils.dns.zone_task import echoed_arguments, run_dns_zone
except ImportError:  # dnspython or netaddr missing on the controller: ship the module instead
    IN_PROCESS_AVAILABLE = False
else:
    IN_PROCESS_AVAILABLE = True

MODULE = "psf.infra.dns_zone"

#: The records are checked field by field by module_utils.dns.validate (its errors name the tenant file,
#: the record and the field). They are kept out of the generic validation: ArgumentSpecValidator deep-copies
#: its input, which for 10,000 templated records costs more (1.7 s) than the whole DNS work.
IN_PROCESS_SPEC = DNS_ZONE.with_options(records={"type": "raw"})


def _holds_template(value: Any) -> bool:
    """Whether any string inside ``value`` (lists and dicts, as records are) looks like a template."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if is_possibly_template(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the DNS work of one task, as it was afterwards.

    The worker is a fork of ansible-playbook and inherits its whole heap (the registry, the variables, a
    zone's records: over a million objects for 10,000 records). Building the plan of a big zone allocates
    enough objects to set off full collections, and each full collection walks, and through copy-on-write
    copies, every inherited object: about half of a 0.5-0.7 s no-op on 10,000 records. Nothing here needs the
    collector: the records, rrsets and messages are freed by reference counting, and the few cycles there
    may be (a traceback) are collected once the collector is back on.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = True  # an async task is shipped: async_wrapper runs the module in the background

    @classmethod
    def finalize_task_arg(cls, name: str, value: Any, templar: Any, context: Any) -> Any:
        """``records: "{{ some_list }}"``: take the list as it is when none of its records holds a template.

        ansible-core 2.19 otherwise renders the list and copies every record, value and tag (0.6 s for
        10,000 records), only to find nothing to render. A record that does hold a template (a value
        like ``"{{ web_ip }}"``), or any other form of the argument, is templated the usual way. The hook
        is the one ansible-core's own ``assert`` uses for its ``that``.
        """
        if (name == "records" and is_possibly_all_template is not None and isinstance(value, str)
                and is_possibly_all_template(value)):
            with _collector_paused():
                try:
                    records = templar.resolve_to_container(value)
                except Exception:  # pylint: disable=broad-exception-caught  # the usual path reports it
                    records = None
                if isinstance(records, list) and not _holds_template(records):
                    return records
        return super().finalize_task_arg(name, value, templar, context)

    def _in_process(self, task_vars: dict[str, Any]) -> bool:
        if not IN_PROCESS_AVAILABLE or self._play_context.become:
            return False
        if not boolean(self._templar.template(task_vars.get("psf_dns_in_process", True)), strict=False):
            return False
        return getattr(self._connection, "transport", None) == "local"

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        if self._task.async_val or not self._in_process(task_vars):
            wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
            result.update(self._execute_module(module_name=MODULE, module_args=self._task.args,
                                               task_vars=task_vars, wrap_async=wrap_async))
            return result

        validator = ArgumentSpecValidator(**IN_PROCESS_SPEC.validator_kwargs())
        args = dict(self._task.args)
        records = args.pop("records", None)
        if records is not None:
            args["records"] = True  # present (for mutually_exclusive / required_one_of), not copied
        checked = validator.validate(args)
        no_log_values = checked._no_log_values
        if checked.error_messages:
            result.update(failed=True, msg="; ".join(checked.error_messages))
            return remove_values(result, no_log_values)
        params = dict(checked.validated_parameters, records=records)
        try:
            with _collector_paused():
                outcome = run_dns_zone(params, check_mode=bool(self._task.check_mode), diff=bool(self._task.diff))
        except PsfInfraError as err:  # the collection's one edge, as the module's fail_on_errors
            outcome = err.failed_result(changed=False)
        outcome["invocation"] = {"module_args": echoed_arguments(params)}
        if records:
            # The worker sends its copy of the task (arguments included) back to the main process
            # with the result; pickling 10,000 templated records costs 0.6 s for nothing.
            self._task.args["records"] = outcome["invocation"]["module_args"]["records"]
        result.update(outcome)
        return remove_values(result, no_log_values)
