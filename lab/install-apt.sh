#!/usr/bin/env bash
# Installs the Debian packages named in a list file (one per line, '#' comments), only the missing
# ones, with one `apt-get update` at most. Services are not started on install: the lab starts
# what it needs by hand on loopback.
set -euo pipefail
list=${1:?usage: install-apt.sh <package-list>}
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]} == 0)); then
  echo "apt: all ${#wanted[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "apt: missing packages (${missing[*]}); run as root or install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "apt: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Keep services from starting on install: the lab runs its own instances on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy" && created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
