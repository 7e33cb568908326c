"""A real fleet of SSH hosts in network namespaces, for the client role and the fleet playbooks.

Every host is a Debian ``sshd`` started by this module in its own network namespace, with its own
address in 10.213.0.0/24 (which exists only inside the namespaces made here), and its own mount
namespace in which a per-host copy of /etc (its own passwd/group/shadow: its own users, and its own
/etc/opencode) and a per-host /home are bind-mounted, plus a private tmpfs on /run. The controller
(ansible-playbook, ssh) runs in one more namespace, ``<tag>c``, joined to the hosts by veth pairs on
a bridge; the machine's root namespace never gets an interface or an address. Nothing here sends
a packet outside those namespaces.

Everything started is stopped by PID (sshd, the sessions it forked, ssh control masters) and every
namespace and directory is deleted by :meth:`Fleet.stop`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import threading
import time

SUBNET = "10.213.0"
CONTROLLER_ADDR = f"{SUBNET}.1"
REQUIRED_TOOLS = ("ip", "unshare", "nsenter", "ssh", "ssh-keygen", "/usr/sbin/sshd")


@dataclasses.dataclass
class Host:
    name: str
    users: list[str]
    login: str = "root"          # the SSH login user
    hostvars: dict = dataclasses.field(default_factory=dict)
    groups: dict = dataclasses.field(default_factory=dict)  # extra groups: name -> member users
    # filled in by Fleet
    index: int = 0
    addr: str = ""
    netns: str = ""
    root: pathlib.Path | None = None
    uids: dict = dataclasses.field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def home(self) -> pathlib.Path:
        return self.root / "home"

    def user_home(self, user: str) -> pathlib.Path:
        return self.home / user


def _run(cmd, check=True, **kwargs):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def missing_tools():
    return [t for t in REQUIRED_TOOLS if shutil.which(t) is None]


def _descendants(pid: int) -> list[int]:
    """PIDs of all processes below ``pid`` (from /proc, by parent PID)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        for child in children.get(current, []):
            out.append(child)
            todo.append(child)
    return out


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_tree(pid: int, timeout: float = 5.0):
    """SIGTERM ``pid`` and everything below it, then SIGKILL what is left."""
    pids = [pid] + _descendants(pid)
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in pids:
        while time.monotonic() < deadline:
            if not _alive(p):
                break
            time.sleep(0.05)
        else:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Fleet:
    """Start with :meth:`start`, always :meth:`stop` (idempotent)."""

    def __init__(self, hosts: list[Host], tag: str | None = None):
        self.tag = tag or f"ocf{os.getpid() % 100000}"
        self.hosts = {h.name: h for h in hosts}
        # /var/tmp and mode 0755: the fleet's users must traverse to the OpenCode binary.
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="omniroute-fleet-", dir="/var/tmp"))
        os.chmod(self.workdir, 0o755)
        self.ctl_netns = f"{self.tag}c"
        self.key = self.workdir / "ssh" / "id_ed25519"
        self.known_hosts = self.workdir / "ssh" / "known_hosts"
        self.control_dir = self.workdir / "cp"
        self.netns_made: list[str] = []
        self.opencode: pathlib.Path | None = None
        self._stopped = False

    # ---------------------------------------------------------------- set-up
    def start(self, opencode_binary: pathlib.Path | None = None):
        missing = missing_tools()
        if missing:
            raise RuntimeError("fleet needs %s (Debian: openssh-server openssh-client iproute2 util-linux; "
                               "listed in scripts/system-packages.txt)" % ", ".join(missing))
        (self.workdir / "ssh").mkdir(mode=0o700)
        self.control_dir.mkdir(mode=0o700)
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "fleet-controller", "-f", str(self.key)])
        (self.workdir / "authorized_keys").write_text(self.key.with_suffix(".pub").read_text())
        os.chmod(self.workdir / "authorized_keys", 0o644)
        if opencode_binary is not None:
            self.opencode = self._publish_binary(pathlib.Path(opencode_binary))
        self._make_network()
        known = []
        for host in self.hosts.values():
            self._make_root(host)
            keytype, key = (host.root / "ssh_host_ed25519_key.pub").read_text().split()[:2]
            known.append(f"{host.addr} {keytype} {key}")
        self.known_hosts.write_text("\n".join(known) + "\n")
        for host in self.hosts.values():
            self.start_sshd(host)
        for host in self.hosts.values():
            self.wait_ssh(host)
        return self

    def _publish_binary(self, binary: pathlib.Path) -> pathlib.Path:
        target = self.workdir / "bin" / "opencode"
        target.parent.mkdir()
        try:
            os.link(binary, target)
        except OSError:
            shutil.copy2(binary, target)
        os.chmod(target, 0o755)
        return target

    def _make_network(self):
        ns = self.ctl_netns
        _run(["ip", "netns", "add", ns])
        self.netns_made.append(ns)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", ns, "addr", "add", f"{CONTROLLER_ADDR}/24", "dev", "br0"])
        _run(["ip", "-n", ns, "link", "set", "br0", "up"])
        for index, host in enumerate(self.hosts.values(), start=1):
            host.index = index
            host.addr = f"{SUBNET}.{10 + index}"
            host.netns = f"{self.tag}h{index}"
            _run(["ip", "netns", "add", host.netns])
            self.netns_made.append(host.netns)
            _run(["ip", "-n", host.netns, "link", "set", "lo", "up"])
            # Both ends are created inside the namespaces: the root namespace never sees them.
            _run(["ip", "-n", ns, "link", "add", f"vh{index}", "type", "veth", "peer", "name", "eth0",
                  "netns", host.netns])
            _run(["ip", "-n", ns, "link", "set", f"vh{index}", "master", "br0", "up"])
            _run(["ip", "-n", host.netns, "addr", "add", f"{host.addr}/24", "dev", "eth0"])
            _run(["ip", "-n", host.netns, "link", "set", "eth0", "up"])

    def _make_root(self, host: Host):
        root = self.workdir / "hosts" / host.name
        host.root = root
        root.mkdir(parents=True)
        _run(["cp", "-a", "/etc", str(root / "etc")])
        shutil.rmtree(root / "etc" / "opencode", ignore_errors=True)
        (root / "home").mkdir(mode=0o755)
        (root / "tmp").mkdir(mode=0o700)
        (root / "local-ca-certificates").mkdir(mode=0o755)
        passwd, group, shadow = [], [], []
        users = list(dict.fromkeys(host.users + ([host.login] if host.login != "root" else [])))
        for offset, user in enumerate(users):
            uid = 30001 + offset
            host.uids[user] = uid
            passwd.append(f"{user}:x:{uid}:{uid}:fleet user {user}:/home/{user}:/bin/sh")
            group.append(f"{user}:x:{uid}:")
            shadow.append(f"{user}:*:19000:0:99999:7:::")
            home = root / "home" / user
            home.mkdir(mode=0o750)
            os.chown(home, uid, uid)
        for offset, (name, members) in enumerate(host.groups.items()):
            group.append(f"{name}:x:{31001 + offset}:{','.join(members)}")
        for name, lines in (("passwd", passwd), ("group", group), ("shadow", shadow)):
            with open(root / "etc" / name, "a") as handle:
                handle.write("\n".join(lines) + "\n")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", host.name,
              "-f", str(root / "ssh_host_ed25519_key")])
        (root / "sshd_config").write_text("\n".join([
            f"ListenAddress {host.addr}:22",
            f"HostKey {root / 'ssh_host_ed25519_key'}",
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            "PidFile none",
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UseDNS no",
            "PrintMotd no",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "LogLevel ERROR",
            "Subsystem sftp internal-sftp",
            "",
        ]))

    def start_sshd(self, host: Host):
        script = (
            'set -e\n'
            'mount --bind "$1/etc" /etc\n'
            'mount --bind "$1/home" /home\n'
            'mount -t tmpfs -o mode=0755 fleet-run /run\n'
            # The host's own source directory of local CAs (update-ca-certificates reads it; /etc is per host already).
            'mount --bind "$1/local-ca-certificates" /usr/local/share/ca-certificates\n'
            'mkdir -m 0755 /run/sshd\n'
            'exec /usr/sbin/sshd -D -e -f "$1/sshd_config"\n'
        )
        log = open(host.root / "sshd.log", "ab")
        # ip netns exec, unshare and sh all exec: the Popen PID is sshd's PID.
        host.proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, "unshare", "--mount", "--propagation", "private", "--",
             "sh", "-c", script, "sh", str(host.root)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def stop_sshd(self, host: Host):
        """Stop the host's sshd and every session it forked (by PID): the host becomes unreachable."""
        if host.proc is not None and host.proc.poll() is None:
            _kill_tree(host.proc.pid)
            host.proc.wait(timeout=10)
        host.proc = None

    def wait_ssh(self, host: Host, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if host.proc is None or host.proc.poll() is not None:
                raise RuntimeError("sshd of %s exited: %s" % (host.name, (host.root / "sshd.log").read_text()))
            last = self.ssh(host, "true", check=False, timeout=10)
            if last.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError("cannot ssh to %s: %s" % (host.name, last and last.stderr))

    # ---------------------------------------------------------------- use
    def in_controller_netns(self, fn):
        """Call ``fn`` in a thread that joined the controller's network namespace; returns its result.

        Sockets ``fn`` binds stay in that namespace (servers the fleet reaches at 127.0.0.1 of the controller, such
        as stand-in upstreams behind the proxy), while the rest of the test process stays where it is.
        """
        outcome = {}

        def target():
            fd = os.open(f"/var/run/netns/{self.ctl_netns}", os.O_RDONLY)
            try:
                os.setns(fd, os.CLONE_NEWNET)  # this thread only
            finally:
                os.close(fd)
            try:
                outcome["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome["error"] = exc

        thread = threading.Thread(target=target, name="fleet-netns")
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def netns_exec(self, host: Host | None, argv: list[str], timeout: float = 30):
        """Run ``argv`` in a host's network namespace (the controller's for ``None``), as root."""
        netns = host.netns if host is not None else self.ctl_netns
        return _run(["ip", "netns", "exec", netns, *argv], check=False, timeout=timeout)

    def ssh_base(self, user: str, addr: str) -> list[str]:
        return ["ip", "netns", "exec", self.ctl_netns, "ssh", "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5", "-o", "ControlMaster=no",
                f"{user}@{addr}"]

    def ssh(self, host: Host, command: str, user: str | None = None, check=True, timeout=60):
        return _run(self.ssh_base(user or host.login, host.addr) + [command], check=check, timeout=timeout)

    def write_inventory(self, group_vars: dict, path: pathlib.Path | None = None) -> pathlib.Path:
        hosts = {}
        for host in self.hosts.values():
            hv = {
                "ansible_host": host.addr,
                "ansible_user": host.login,
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_become_method": "ansible.builtin.su",
            }
            if host.login == "root":
                hv["ansible_remote_tmp"] = str(host.root / "tmp")  # never the real /root
            hv.update(host.hostvars)
            hosts[host.name] = hv
        inventory = {"all": {"children": {"opencode_clients": {"hosts": hosts, "vars": group_vars}}}}
        path = path or self.workdir / "inventory.json"
        path.write_text(json.dumps(inventory, indent=2))
        return path

    def ansible_env(self, extra: dict | None = None) -> dict:
        cfg = self.workdir / "ansible.cfg"
        if not cfg.exists():
            cfg.write_text("\n".join([
                "[defaults]",
                "forks = 10",
                "gathering = explicit",
                "host_key_checking = True",
                "interpreter_python = /usr/bin/python3",
                "retry_files_enabled = False",
                "[ssh_connection]",
                "pipelining = True",
                f"control_path_dir = {self.control_dir}",
                "ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o BatchMode=yes -o IdentitiesOnly=yes "
                f"-o UserKnownHostsFile={self.known_hosts} -o StrictHostKeyChecking=yes -o ConnectTimeout=5",
                f"private_key_file = {self.key}",
                "",
            ]))
        env = dict(os.environ)
        env.update({"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1",
                    "ANSIBLE_PRIVATE_KEY_FILE": str(self.key)})
        env.update(extra or {})
        return env

    def ansible_playbook(self, args: list[str], env: dict | None = None, timeout: float = 600):
        """Run ansible-playbook inside the controller namespace; returns the CompletedProcess.

        nsenter joins the network namespace only: ``ip netns exec`` also remounts /sys, which hides the cgroup
        mounts that podman needs to run a container for a proxy host of the controller (local connection).
        """
        exe = shutil.which("ansible-playbook")
        return subprocess.run(["nsenter", f"--net=/var/run/netns/{self.ctl_netns}", exe, *args], env=self.ansible_env(env),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                              cwd=self.workdir)

    def close_control_masters(self):
        """Ask every ssh control master this fleet's runs left behind to exit (by its socket)."""
        if not self.control_dir.exists():
            return
        for sock in self.control_dir.iterdir():
            _run(["ip", "netns", "exec", self.ctl_netns, "ssh", "-o", f"ControlPath={sock}", "-O", "exit",
                  "fleet"], check=False, timeout=10)

    # ---------------------------------------------------------------- tear-down
    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        try:
            self.close_control_masters()
        except Exception:  # noqa: BLE001 - tear-down goes on
            pass
        for host in self.hosts.values():
            try:
                self.stop_sshd(host)
            except Exception:  # noqa: BLE001
                pass
        for ns in reversed(self.netns_made):
            _run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def parse_recap(output: str) -> dict:
    """PLAY RECAP lines -> {host: {"ok": n, "changed": n, "unreachable": n, "failed": n, ...}}."""
    recap = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap and ":" in line and "=" in line:
            name, _, counters = line.partition(":")
            recap[name.strip()] = {k: int(v) for k, v in (c.split("=") for c in counters.split())}
    return recap
