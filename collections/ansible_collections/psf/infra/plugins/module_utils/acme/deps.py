# Copyright: PSF Infrastructure Working Group
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the libraries of the ACME code can be imported; the module reports a missing one.

The other files of this package import them inside ``try`` so that the collection's import sanity
test (which runs without them) passes; the module checks :data:`IMPORT_ERROR` before using any.
"""

from __future__ import annotations

try:
    import acme.client
    import cryptography.x509
    import dns.resolver
    import josepy
    import requests
except ImportError as error:
    IMPORT_ERROR: ImportError | None = error
else:
    IMPORT_ERROR = None
    del acme, cryptography, dns, josepy, requests
