#!/usr/bin/env bash
# The last lines of `make demo`: what it built and the commands that show it.
set -euo pipefail
cat <<'TEXT'

== make demo: done ==
Built on this machine, all on 127.0.0.1 or the lab's internal podman network (state in .lab/):
  - the lab: BIND (root, registry `test.`, Infra-WG primary ns1 and secondary ns2), a validating
    unbound, pebble as the ACME CA, an SMTP sink;
  - every tenant of inventories/lab/tenants/: zones served, signed where asked, certificates issued;
  - the lab's machines as podman containers (tenant VMs, backup and monitoring servers), converged
    with baseline, tenant root access, backups, monitoring and apps.

Look next:
  .cache/status/index.html                               the tenant status page (status.json beside it; docs/status.md)
  .venv/bin/psf-infra summary -i inventories/lab         the summary above, again
  .venv/bin/psf-infra status -i inventories/lab          the status page, again (.cache/status/)
  .venv/bin/psf-infra drift -i inventories/lab          the drift report per tenant (.cache/status/drift/index.html)
  make demo SITE_ARGS='--check --diff'                   the same plan as ansible-playbook prints it
  .venv/bin/ansible-inventory -i inventories/lab --graph tenants, groups and VM hosts from the registry
  make lab-status                                        the lab's services and their health
  podman ps --filter name=psf-lab                        the lab's machines (CONTAINERS_CONF=.cache/podman/containers.conf)
  docs/lab.md                                            ports, keys and files of the lab

Stop:
  make lab-down                                          stop the lab's services (keeps keys and zones)
  make lab-vms-down                                      remove the lab's machines
TEXT
