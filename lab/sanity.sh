#!/usr/bin/env bash
# ansible-test sanity on the collection, offline. ansible-test bootstraps pip in each sanity
# virtualenv from a script on ci-files.testing.ansible.com, which is not reachable here: the pip
# wheel it wants comes from PyPI instead (lab/ansible-test-get-pip.py). The sanity virtualenvs'
# own requirements come from PyPI as usual and are cached by ansible-test between runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv_py="$root/.venv/bin/python"
pip_version=$("$venv_py" - <<'PY'
import pathlib, re, ansible_test
source = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"default_packages = dict\(\s*pip='([0-9.]+)'", source.read_text()).group(1))
PY
)
cache="$HOME/.ansible/test/cache"
bootstrap="$cache/get_pip_${pip_version//./_}.py"
if [[ ! -s $bootstrap ]]; then
  wheels="$root/.cache/ansible-test-pip"
  mkdir -p "$wheels" "$cache"
  "$venv_py" -m pip download --quiet --disable-pip-version-check --no-deps -d "$wheels" "pip==$pip_version"
  wheel=$(ls "$wheels"/pip-"$pip_version"-*.whl)
  sed "s|@WHEEL@|$wheel|" "$root/lab/ansible-test-get-pip.py" > "$bootstrap"
fi
cd "$root/collections/ansible_collections/psf/infra"
py=$("$venv_py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
exec "$root/.venv/bin/ansible-test" sanity --local --python "$py" --color no "$@"
