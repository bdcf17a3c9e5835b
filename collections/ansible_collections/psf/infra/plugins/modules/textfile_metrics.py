#!/usr/bin/python
# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: textfile_metrics
short_description: Write Prometheus metrics for the node exporter's textfile collector, atomically
version_added: 0.1.0
description:
  - Renders O(metrics) in the Prometheus text exposition format and replaces O(path) with it
    atomically (written beside it under a name the collector ignores, then renamed), so the node
    exporter never reads half a file.
  - Every metric name, label name and value is checked before anything is written; a bad one fails
    naming the field.
  - Changed only when the text differs from the file's; check mode writes nothing, diff mode shows
    the old and the new text.
author:
  - PSF Infrastructure Working Group (@python)
attributes:
  check_mode:
    support: full
    description: Renders and compares the text; writes nothing.
  diff_mode:
    support: full
    description: Shows the file's old and new text.
options:
  path:
    description:
      - The C(.prom) file, in the node exporter's textfile directory. Its directory is created when missing.
    type: path
    required: true
  metrics:
    description: The metric families, in the order they are written.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The metric name.
        type: str
        required: true
      help:
        description: The C(# HELP) text.
        type: str
      type:
        description: The C(# TYPE).
        type: str
        default: gauge
        choices: [gauge, counter, untyped]
      samples:
        description:
          - The samples, as C({labels, value}); a family without samples keeps only its HELP and TYPE.
          - A C(value) is a number, or an ISO 8601 date and time (without an offset - UTC), written as Unix seconds.
        type: list
        elements: dict
        default: []
  mode:
    description: Permissions of the file.
    type: raw
    default: '0644'
seealso:
  - module: psf.infra.domain_info
"""

EXAMPLES = r"""
- name: Export the expiry of each domain
  psf.infra.textfile_metrics:
    path: /var/lib/prometheus/node-exporter/psf_domains.prom
    metrics:
      - name: psf_domain_expiry_timestamp_seconds
        help: Unix time the registration of the domain expires.
        samples:
          - {labels: {domain: packaging.test, tenant: packaging}, value: 1924992000}
"""

RETURN = r"""
path:
  description: The file.
  returned: always
  type: str
samples:
  description: How many samples were written.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.psf.infra.plugins.module_utils.errors import InvalidInput, fail_on_errors
from ansible_collections.psf.infra.plugins.module_utils.textfile import read_text, render, write_atomically


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "metrics": {"type": "list", "elements": "dict", "required": True, "options": {
                "name": {"type": "str", "required": True},
                "help": {"type": "str"},
                "type": {"type": "str", "default": "gauge", "choices": ["gauge", "counter", "untyped"]},
                "samples": {"type": "list", "elements": "dict", "default": []},
            }},
            "mode": {"type": "raw", "default": "0644"},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    with fail_on_errors(module):
        text = render(module.params["metrics"])
        mode = module.params["mode"]
        try:
            mode = int(mode, 8) if isinstance(mode, str) else int(mode)
        except ValueError:
            raise InvalidInput(f"{mode!r} is not an octal file mode", field="mode") from None
    before = read_text(path)
    changed = before != text
    result = {"changed": changed, "path": path,
              "samples": sum(len(family["samples"] or ()) for family in module.params["metrics"])}
    if changed and module._diff:
        result["diff"] = {"before": before or "", "after": text, "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        write_atomically(path, text, mode)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
