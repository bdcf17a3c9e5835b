# psf.infra: the front door. Every target installs what it needs, once.
#   make demo   - bring the lab up and run playbooks/site.yml against inventories/lab
#                 (VM_PROVIDER=libvirt: the tenant VMs as libvirt guests; docs/vms.md)
#   make test   - lint, sanity, unit, integration (lab), Molecule; ends with pytest's summary
# Other targets: lint, sanity, unit, integration, e2e, molecule, bench, lab-up, lab-down, lab-status,
# lab-vms-down, image, vm-image, deps, build, clean.

SHELL        := /bin/bash
.SHELLFLAGS  := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT         := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
VENV         := $(ROOT)/.venv
BIN          := $(VENV)/bin
PY           := $(BIN)/python
STAMPS       := $(ROOT)/.stamps
COLLECTION   := $(ROOT)/collections/ansible_collections/psf/infra
PYTHON       ?= python3

export ANSIBLE_CONFIG  := $(ROOT)/ansible.cfg
export PATH            := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# Podman settings measured on these machines (runc, cgroupfs, explicit ulimits): lab/podman-env.sh.
export CONTAINERS_CONF := $(ROOT)/.cache/podman/containers.conf

.PHONY: help demo test deps apt venv image vm-image lint sanity unit integration e2e molecule bench \
        lab-up lab-down lab-status lab-vms-down build clean

help:
	@sed -n '2,7p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

## ---- set-up (each step skips itself when done) -------------------------------------------

deps: apt venv

# Debian packages: installs only the missing ones from lab/apt-packages.txt.
apt: $(STAMPS)/apt
$(STAMPS)/apt: lab/apt-packages.txt lab/install-apt.sh
	@mkdir -p $(STAMPS)
	bash lab/install-apt.sh lab/apt-packages.txt
	@touch $@

# The virtualenv, rebuilt when the pins change.
venv: $(STAMPS)/venv
$(STAMPS)/venv: requirements.txt constraints.txt pyproject.toml | $(STAMPS)/apt
	@mkdir -p $(STAMPS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# The podman image for Molecule (debootstrap, cached in podman's storage).
image: deps
	bash lab/podman-env.sh >/dev/null
	bash lab/build-image.sh

# The standard VM image (debootstrap, a bootable qcow2 cached in .cache/vm-image/, rebuilt only when
# its recipe changes; docs/vms.md). The libvirt tests build it themselves when it is missing.
vm-image: deps
	$(PY) lab/labctl.py vm-image

## ---- the two commands ---------------------------------------------------------------------

# The lab's machines (tenant VMs, backup and monitoring servers) are podman containers from the
# image (playbooks/lab-vms.yml, run by site.yml); `make lab-vms-down` removes them.
# VM_PROVIDER=libvirt: the tenant VMs are libvirt guests instead (TCG, the standard image, made and
# booted by playbooks/hypervisor.yml), in the inventory `labctl.py guests up` writes from
# inventories/lab (.lab/guests/inventory); the backup and monitoring servers stay podman machines,
# joined to the guests by forwarders (docs/vms.md, "The lab's site on libvirt guests").
# `make lab-vms-down VM_PROVIDER=libvirt` removes the guests, their forwarders and the machines.
# SITE_ARGS: more ansible-playbook arguments, e.g. SITE_ARGS='--check --diff' (the drift report).
SITE_ARGS   ?=
VM_PROVIDER ?= podman
ifeq ($(VM_PROVIDER),podman)
DEMO_INVENTORY := inventories/lab
else ifeq ($(VM_PROVIDER),libvirt)
DEMO_INVENTORY := $(or $(PSF_LAB_DIR),$(ROOT)/.lab)/guests/inventory
else
$(error VM_PROVIDER must be podman (the default) or libvirt, not '$(VM_PROVIDER)')
endif
demo: deps image
	$(PY) lab/labctl.py up
ifeq ($(VM_PROVIDER),libvirt)
	$(PY) lab/labctl.py guests up
	$(BIN)/ansible-playbook -i $(DEMO_INVENTORY) playbooks/lab-vms.yml
	$(PY) lab/labctl.py guests forward
endif
	$(BIN)/ansible-playbook -i $(DEMO_INVENTORY) playbooks/site.yml $(SITE_ARGS)
	$(PY) -m psf_infra_runner.summary --inventory $(DEMO_INVENTORY)
	$(BIN)/psf-infra status -i $(DEMO_INVENTORY)
	@bash lab/demo-next.sh $(VM_PROVIDER) $(DEMO_INVENTORY)

# The lab is brought up once for all pytest workers (and stopped after, with the lab's machines the
# site tests made, unless it was already up);
# the Molecule scenarios run first, in parallel with the rest (pytest-xdist). Before them, alone,
# the tests that stop lab services one by one (tests/integration/test_backends_down.py: they skip
# themselves among other workers; their backup-server case needs the lab machines of `make demo`).
# The serial lab worker (tests/conftest.py) is the longest: the other workers' tests run at nice 10.
TEST_WORKERS ?= 3
ALONE_TESTS  := tests/integration/test_backends_down.py
test: deps image lint sanity
	@was_up=0; $(PY) lab/labctl.py status >/dev/null 2>&1 && was_up=1; \
	$(PY) lab/labctl.py up >/dev/null; \
	status=0; echo "== first, alone: the tests that stop lab services ($(ALONE_TESTS))"; \
	$(PY) -m pytest -p no:cacheprovider $(ALONE_TESTS) || status=$$?; \
	echo "== then everything else, $(TEST_WORKERS) workers"; \
	$(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --durations=25 || status=$$?; \
	if [ $$was_up = 0 ]; then \
	  $(BIN)/ansible-playbook -i inventories/lab playbooks/lab-vms.yml -e lab_vms_state=absent >/dev/null 2>&1 || true; \
	  $(PY) lab/labctl.py down >/dev/null 2>&1 || true; \
	fi; \
	exit $$status

## ---- parts of the test run ----------------------------------------------------------------

lint: deps
	$(BIN)/ruff check .
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint -q playbooks roles
	$(BIN)/ansible-galaxy collection build --force --output-path $(ROOT)/.cache/dist $(COLLECTION) >/dev/null
	$(BIN)/ansible-doc -l psf.infra >/dev/null

# ansible-test's own output, less the pip chatter of its sanity virtualenvs.
sanity: deps
	bash lab/sanity.sh 2>&1 | grep -vE '^(WARNING: Location|Looking in|Collecting|  Downloading|  Using cached| +━|Installing collected|Successfully installed|Requirement already)'

unit: deps
	$(PY) -m pytest -p no:cacheprovider -m 'not lab and not molecule and not podman'

integration: deps image
	$(PY) -m pytest -p no:cacheprovider -m lab

# The whole site against the lab, twice (tests/e2e/test_site.py; also part of `integration`).
e2e: deps image
	$(PY) -m pytest -p no:cacheprovider -s tests/e2e

molecule: image
	$(PY) -m pytest -p no:cacheprovider -m 'molecule or podman'

bench: deps
	$(PY) lab/labctl.py up
	@set -e; for b in tests/bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

## ---- the lab ------------------------------------------------------------------------------

lab-up: deps
	$(PY) lab/labctl.py up

lab-down: deps
	$(PY) lab/labctl.py down

lab-status: deps
	$(PY) lab/labctl.py status

# The lab's machines are not part of labctl.py (`lab-down` leaves them): remove them here.
lab-vms-down: deps
ifeq ($(VM_PROVIDER),libvirt)
	$(PY) lab/labctl.py guests down
endif
	$(BIN)/ansible-playbook -i $(DEMO_INVENTORY) playbooks/lab-vms.yml -e lab_vms_state=absent

build: deps
	$(BIN)/ansible-galaxy collection build --force --output-path $(ROOT)/.cache/dist $(COLLECTION)

clean:
	-test -x $(PY) && $(PY) lab/labctl.py down
	rm -rf $(STAMPS) .cache/dist .pytest_cache .ruff_cache
