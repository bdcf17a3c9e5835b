"""Offline stand-in for the get-pip script ansible-test downloads from ci-files.testing.ansible.com.

That host is not reachable from the project's machines; PyPI is. lab/sanity.sh downloads the pip
wheel ansible-test asks for from PyPI and installs this file in ansible-test's cache, with the
wheel's path filled in. Like the real get-pip, it runs pip from the wheel to install the packages
it is given (pip itself among them) into the interpreter that runs it.
"""

import runpy
import sys

WHEEL = "@WHEEL@"
GET_PIP_ONLY_OPTIONS = {"--no-setuptools", "--no-wheel"}

sys.path.insert(0, WHEEL)
sys.argv = ["pip", "install", *[arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
