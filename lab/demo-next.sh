#!/usr/bin/env bash
# The last lines of `make demo`: what it built and the commands that show it.
#   bash lab/demo-next.sh [podman|libvirt] [INVENTORY]
set -euo pipefail
provider=${1:-podman}
inventory=${2:-inventories/lab}
case "$provider" in
  podman)
    machines="  - the lab's machines as podman containers (tenant VMs, backup and monitoring servers), converged
    with baseline, tenant root access, backups, monitoring and apps."
    look="  podman ps --filter name=psf-lab                        the lab's machines (CONTAINERS_CONF=.cache/podman/containers.conf)"
    stop="  make lab-vms-down                                      remove the lab's machines"
    ;;
  libvirt)
    machines="  - the tenant VMs as guests of the lab's libvirtd (TCG, the standard image, addresses on 192.0.2.0/24
    in the namespace psflab), the backup and monitoring servers as podman containers, joined by the
    lab's forwarders; converged with baseline, tenant root access, backups, monitoring and apps."
    state=$(dirname "$inventory")
    look="  python3 -c 'import json; print(json.load(open(\"$state/site.json\")))'   the guests, addresses, staff key
  ssh -o ProxyCommand='ip netns exec psflab python3 lab/psf_lab/relay.py %h %p' -i $state/staff root@192.0.2.10
                                                         a root shell on web1.packaging, as Ansible gets it"
    stop="  make lab-vms-down VM_PROVIDER=libvirt                  remove the guests, their forwarders and the lab's machines"
    ;;
  *) echo "demo-next.sh: provider must be podman or libvirt, not $provider" >&2; exit 2 ;;
esac
cat <<TEXT

== make demo: done ==
Built on this machine, all on 127.0.0.1 or the lab's private networks (state in .lab/):
  - the lab: BIND (root, registry \`test.\`, Infra-WG primary ns1 and secondary ns2), a validating
    unbound, pebble as the ACME CA, an SMTP sink;
  - every tenant of inventories/lab/tenants/: zones served, signed where asked, certificates issued;
$machines

Look next:
  .cache/status/index.html                               the tenant status page (status.json beside it; docs/status.md)
  .venv/bin/psf-infra summary -i $inventory         the summary above, again
  .venv/bin/psf-infra status -i $inventory          the status page, again (.cache/status/)
  .venv/bin/psf-infra drift -i $inventory          the drift report per tenant (.cache/status/drift/index.html)
  make demo VM_PROVIDER=$provider SITE_ARGS='--check --diff'   the same plan as ansible-playbook prints it
  .venv/bin/ansible-inventory -i $inventory --graph tenants, groups and VM hosts from the registry
  make lab-status                                        the lab's services and their health
$look
  docs/lab.md                                            ports, keys and files of the lab

Stop:
  make lab-down                                          stop the lab's services (keeps keys and zones)
$stop
TEXT
