# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options of the DNS modules (the ``psf.infra.dns_server`` doc fragment).

Free of third-party imports on purpose: a module can build its argument spec (and report a missing
dnspython/netaddr properly) even where those libraries are not installed.
"""

from __future__ import annotations

from typing import Any

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")

SERVER_ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "server": {"type": "str", "required": True},
    "port": {"type": "int", "default": 53},
    "tsig_key_name": {"type": "str"},
    "tsig_key_algorithm": {"type": "str", "default": "hmac-sha256", "choices": list(TSIG_ALGORITHMS)},
    "tsig_key_secret": {"type": "str", "no_log": True},
    "timeout": {"type": "float", "default": 10.0},
    "secondaries": {"type": "list", "elements": "dict", "default": [],
                    "options": {"server": {"type": "str", "required": True},
                                "port": {"type": "int", "default": 53}}},
}
SERVER_REQUIRED_TOGETHER = [["tsig_key_name", "tsig_key_secret"]]
REQUIRED_LIBRARIES = "dnspython (2.6 or later) and netaddr"
