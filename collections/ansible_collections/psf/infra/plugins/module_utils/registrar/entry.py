# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The life of ``psf.infra.domain`` and ``psf.infra.domain_info`` once their AnsibleModule is made.

The modules keep only their documentation and one call; the guard for dnspython and netaddr, the
error edge (``errors.fail_on_errors``) and the result are here, once for both, for the single form
(``name``) and the list form (``domains``, ``domain_list``).
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.psf.infra.plugins.module_utils.errors import ItemsFailed, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.registrar.options import REQUIRED_LIBRARIES

try:
    from ansible_collections.psf.infra.plugins.module_utils.registrar import domain_list, domain_task
except ImportError as error:  # dnspython or netaddr missing where the module runs
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None


def run(module: Any, *, changes: bool) -> None:
    """``domain`` (``changes=True``: check and diff mode apply) or ``domain_info``; never returns."""
    if IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib(REQUIRED_LIBRARIES), exception=str(IMPORT_ERROR))
    failure = None
    with fail_on_errors(module):
        if module.params.get("domains") is not None:
            if changes:
                result, failure = domain_list.run_domains(module.params, check_mode=module.check_mode,
                                                          diff=module._diff)
            else:
                result, failure = domain_list.run_domains_info(module.params)
        elif changes:
            result = domain_task.run_domain(module.params, check_mode=module.check_mode, diff=module._diff)
        else:
            result = domain_task.run_domain_info(module.params)
        if failure is not None:  # some domains failed: every domain's result goes with the message
            raise ItemsFailed(failure, **result)
    module.exit_json(**result)
