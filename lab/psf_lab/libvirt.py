"""The lab's libvirtd: a separate lab service, started by the tests that need real VMs
(tests/integration/test_vm_libvirt.py) and not by `labctl up`, so that the DNS and ACME lab stays
as fast and as stable as it is (docs/vms.md).

A privileged libvirtd keeps its drivers' configuration and state in fixed places (/etc/libvirt,
/run/libvirt, /var/lib/libvirt, /var/cache/libvirt). The lab's runs in a mount namespace of its own
(`unshare --mount`) where those are bind mounts of directories under `.lab/libvirt/`, so it never
clashes with a system libvirtd and everything it writes stays in the lab. Its socket is
`.lab/libvirt/sock/libvirt-sock`. In that namespace `/dev/kvm` is an inaccessible empty file: KVM
does not run guests on these machines, guests run under TCG (`type='qemu'`), and a `/dev/kvm` that
QEMU can open but the QEMU user cannot makes libvirt probe QEMU again at every domain definition
(about 60 s; the cached capabilities are judged stale). QEMU's output goes to files
(`stdio_handler = "file"`), so no virtlogd is needed.
"""

from __future__ import annotations

import json
import os
import pwd
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from psf_lab.config import LabError, LabPaths
from psf_lab.processes import pid_matches, recorded_pid, spawn, stop_pid, tail, wait_until, write_if_changed

#: The user QEMU runs as under a privileged libvirtd (compiled into Debian's libvirt); Debian's
#: libvirt-daemon-system creates it, the lab installs only libvirt-daemon and creates it itself.
QEMU_USER = "libvirt-qemu"
START_TIMEOUT = 30.0
#: The lab's network (a bridge without addresses: no dnsmasq, no firewall rules) and storage pool.
NETWORK = "psf-lab"
BRIDGE = "psflab0"
POOL = "psf-lab"
#: The guests' side of the lab: a network namespace of its own, joined to the bridge by a veth pair,
#: holds the guests' gateway address. The host's own network stack gets no address on the bridge
#: (its only targets stay loopback); Ansible reaches a guest with an SSH ProxyCommand that runs the
#: relay (lab/psf_lab/relay.py) in that namespace (docs/vms.md "The lab's libvirtd").
NAMESPACE = "psflab"
VETH_HOST, VETH_GUESTS = "psflab-br", "psflab-gw"
SUBNET, GATEWAY = "192.0.2.0/24", "192.0.2.1"


def directory(paths: LabPaths) -> Path:
    return paths.root / "libvirt"


def socket_path(paths: LabPaths) -> Path:
    return directory(paths) / "sock" / "libvirt-sock"


def uri(paths: LabPaths) -> str:
    return f"qemu:///system?socket={socket_path(paths)}"


def state_file(paths: LabPaths) -> Path:
    return directory(paths) / "state.json"


def _ensure_qemu_user() -> None:
    try:
        pwd.getpwnam(QEMU_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/var/lib/libvirt",
                        "--shell", "/usr/sbin/nologin", "--comment", "Libvirt Qemu", QEMU_USER], check=True)


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        sock.connect(str(path))
    return True


def running(paths: LabPaths) -> bool:
    pid = recorded_pid(paths, "libvirtd")
    return pid is not None and pid_matches(pid, "libvirtd")


#: System directory -> directory under .lab/libvirt/ mounted over it in libvirtd's namespace.
BINDS = {"/etc/libvirt": "etc", "/run/libvirt": "run", "/var/lib/libvirt": "lib", "/var/cache/libvirt": "cache"}


def _command(paths: LabPaths, config: Path) -> list[str]:
    """libvirtd in a private mount namespace with the lab's directories over the system ones."""
    base = directory(paths)
    quote = shlex.quote
    mounts = [f"mount --bind {quote(str(base / sub))} {target}" for target, sub in BINDS.items()]
    if Path("/dev/kvm").exists():
        mounts.append(f"mount --bind {quote(str(base / 'no-kvm'))} /dev/kvm")
    script = " && ".join([*(f"mkdir -p {target}" for target in BINDS), *mounts,
                          f"exec libvirtd -f {quote(str(config))} -p {quote(str(base / 'sock' / 'libvirtd.pid'))}"])
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]


def start(paths: LabPaths | None = None) -> dict[str, Any]:
    """Start libvirtd when it is not running; wait until its socket answers and the lab's pool and
    network exist. Returns (and writes to `.lab/libvirt/state.json`) the URI, pool, network and
    pool directory."""
    paths = paths or LabPaths()
    base = directory(paths)
    pool_dir = base / "pool"
    for sub in (base / "sock", pool_dir, *(base / name for name in BINDS.values())):
        sub.mkdir(parents=True, exist_ok=True)
        # QEMU runs as libvirt-qemu and opens the volumes and its own files there
        os.chmod(sub, 0o755)  # noqa: S103
    no_kvm = base / "no-kvm"
    no_kvm.touch()
    os.chmod(no_kvm, 0)
    paths.log.mkdir(parents=True, exist_ok=True)
    _ensure_qemu_user()
    # namespaces: no private /dev per guest (libvirt would try to move the /dev/kvm bind mount into it)
    write_if_changed(base / "etc" / "qemu.conf", 'stdio_handler = "file"\nnamespaces = []\n')
    config = base / "libvirtd.conf"
    write_if_changed(config, "\n".join([
        f'unix_sock_dir = "{base / "sock"}"', 'unix_sock_rw_perms = "0700"', 'unix_sock_ro_perms = "0700"',
        'auth_unix_rw = "none"', 'auth_unix_ro = "none"',
        f'log_outputs = "3:file:{paths.log_file("libvirtd")}"', ""]))
    if not running(paths):
        spawn(paths, "libvirtd", _command(paths, config))
    failure = f"--- tail of {paths.out_file('libvirtd')}:\n{tail(paths.out_file('libvirtd'))}\n" \
              f"--- tail of {paths.log_file('libvirtd')}:\n{tail(paths.log_file('libvirtd'))}"
    wait_until(lambda: running(paths) and _answers(socket_path(paths)), START_TIMEOUT,
               f"libvirtd to answer on {socket_path(paths)}", failure)
    _ensure_pool_and_network(paths, pool_dir)
    _ensure_namespace()
    state = {"uri": uri(paths), "pool": POOL, "pool_dir": str(pool_dir), "network": NETWORK,
             "namespace": NAMESPACE, "subnet": SUBNET, "gateway": GATEWAY, "proxy_command": proxy_command(),
             "pid": recorded_pid(paths, "libvirtd")}
    write_if_changed(state_file(paths), json.dumps(state, indent=2) + "\n")
    return state


def _ensure_pool_and_network(paths: LabPaths, pool_dir: Path) -> None:
    import libvirt  # libvirt-python, from the project's requirements

    libvirt.registerErrorHandler(lambda context, error: None, None)  # errors come back as exceptions
    conn = libvirt.open(uri(paths))
    try:
        try:
            pool = conn.storagePoolLookupByName(POOL)
        except libvirt.libvirtError:
            pool = conn.storagePoolDefineXML(
                f"<pool type='dir'><name>{POOL}</name><target><path>{pool_dir}</path></target></pool>", 0)
        if not pool.isActive():
            pool.create(0)
        pool.setAutostart(1)
        pool.refresh(0)
        try:
            network = conn.networkLookupByName(NETWORK)
        except libvirt.libvirtError:
            network = conn.networkDefineXML(f"<network><name>{NETWORK}</name><bridge name='{BRIDGE}'/></network>")
        if not network.isActive():
            if Path(f"/sys/class/net/{BRIDGE}").exists():  # left by a libvirtd that was killed
                subprocess.run(["ip", "link", "delete", BRIDGE], check=False)
            network.create()
        network.setAutostart(1)
    except libvirt.libvirtError as err:
        raise LabError(f"libvirtd at {uri(paths)}: the lab's pool or network: {err}") from None
    finally:
        conn.close()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _ensure_namespace() -> None:
    """The guests' gateway: namespace NAMESPACE with GATEWAY on one end of a veth pair whose other
    end is a port of the bridge. Made again when a part of it is missing."""
    ready = (_ip("netns", "exec", NAMESPACE, "ip", "-o", "address", "show", "dev", VETH_GUESTS, check=False).stdout
             if Path(f"/run/netns/{NAMESPACE}").exists() else "")
    if f"{GATEWAY}/" in ready and Path(f"/sys/class/net/{VETH_HOST}/master").exists():
        return
    _drop_namespace()
    try:
        _ip("netns", "add", NAMESPACE)
        _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_GUESTS, "netns", NAMESPACE)
        _ip("link", "set", VETH_HOST, "master", BRIDGE, "up")
        prefix = SUBNET.split("/")[1]
        _ip("-n", NAMESPACE, "address", "add", f"{GATEWAY}/{prefix}", "dev", VETH_GUESTS)
        _ip("-n", NAMESPACE, "link", "set", VETH_GUESTS, "up")
        _ip("-n", NAMESPACE, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as err:
        raise LabError(f"the guests' network namespace {NAMESPACE}: {' '.join(err.cmd)}: {err.stderr.strip()}") \
            from None


def _drop_namespace() -> None:
    """The namespace and the veth pair (deleting the namespace deletes its end, and so the pair)."""
    if Path(f"/run/netns/{NAMESPACE}").exists():
        _ip("netns", "delete", NAMESPACE, check=False)
    if Path(f"/sys/class/net/{VETH_HOST}").exists():
        _ip("link", "delete", VETH_HOST, check=False)


def proxy_command() -> str:
    """The SSH ProxyCommand that reaches a guest (%h, %p) from the guests' namespace."""
    relay = Path(__file__).with_name("relay.py")
    return f"ip netns exec {NAMESPACE} {shlex.quote(sys.executable)} {shlex.quote(str(relay))} %h %p"


def stop(paths: LabPaths | None = None) -> None:
    """Stop libvirtd. Running guests keep running (QEMU is not its child); the next start finds them."""
    paths = paths or LabPaths()
    pid = recorded_pid(paths, "libvirtd")
    if pid is not None and pid_matches(pid, "libvirtd"):
        _drop_idle_network(paths)
        stop_pid(pid, "libvirtd")
    paths.pid_file("libvirtd").unlink(missing_ok=True)


def _drop_idle_network(paths: LabPaths) -> None:
    """Take the lab's bridge and the guests' namespace down when no guest runs (libvirtd leaves the
    bridge up when it stops; the next start brings both up again)."""
    import libvirt

    libvirt.registerErrorHandler(lambda context, error: None, None)
    try:
        conn = libvirt.open(uri(paths))
    except libvirt.libvirtError:
        return
    try:
        if not conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
            _drop_namespace()
            network = conn.networkLookupByName(NETWORK)
            if network.isActive():
                network.destroy()
    except libvirt.libvirtError:
        pass
    finally:
        conn.close()
