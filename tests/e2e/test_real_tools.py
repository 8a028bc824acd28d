"""Real remote access software, run the way the person postern watches would
run it, and the built binary asked what it sees.

Everything runs in a private mount and network namespace (unshare): tmpfs
covers /home and /tmp, /etc/passwd is bind-mounted with a user `mallory`,
and every listener is on the namespace's own loopback. Nothing of this
machine is touched and nothing leaves it.

- x11vnc (Debian's package) serving an Xvfb display;
- a reverse SSH tunnel: Debian's ssh client with -R through a local sshd;
- bore (bore-cli from crates.io), copied into ~/.cargo/bin under other
  names and started with a kernel thread's name as argv[0], both as client
  and server: no name of it says bore.

A second case runs ordinary web servers on the ports remote access tools are
known for (7070, 4000, 4040, 8123) and checks that this machine's own
packages and services give no high-confidence row.

scripts/test installs x11vnc, Xvfb and openssh-server from Debian and bore
into target/test-tools; POSTERN_TEST_BORE names another bore binary.
"""

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from harness import REPO, postern_bin

HOME = "/home/mallory"
BORE = os.environ.get("POSTERN_TEST_BORE") or os.path.join(REPO, "target", "test-tools", "bin", "bore")
NEEDED = {
    "x11vnc": "/usr/bin/x11vnc",
    "Xvfb": "/usr/bin/Xvfb",
    "sshd": "/usr/sbin/sshd",
    "ssh": "/usr/bin/ssh",
    "ssh-keygen": "/usr/bin/ssh-keygen",
    "setpriv": "/usr/bin/setpriv",
    "ip": "/usr/sbin/ip",
}


def namespaces_work():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private", "true"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not namespaces_work(),
                                reason="needs root and unshare (mount and network namespaces)")


def require_tools():
    missing = [n for n, p in NEEDED.items() if not os.access(p, os.X_OK)]
    if not os.access(BORE, os.X_OK):
        missing.append(BORE)
    # scripts/test installs these; a missing one is a failure, not a skip.
    assert not missing, "install the real tools first (scripts/test does): %s" % missing


@pytest.fixture
def workdir():
    base = "/run" if os.path.isdir("/run") else None
    d = tempfile.mkdtemp(prefix="pstreal", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run_in_namespace(workdir, body, timeout=120):
    """Runs `body` (shell lines) in a fresh mount and network namespace with
    /home and /tmp on tmpfs and the user mallory; returns the rows postern
    printed for remote_access_tools and the audit's JSON."""
    passwd = os.path.join(workdir, "passwd")
    with open(passwd, "w") as f:
        # sshd's privilege separation user, as Debian's package makes it.
        f.write("root:x:0:0:root:/root:/bin/bash\n"
                "sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\n"
                "mallory:x:1000:1000::%s:/bin/bash\n" % HOME)
    # Both may live under /tmp (a clone there), which the namespace covers.
    shutil.copy(postern_bin(), os.path.join(workdir, "postern"))
    if os.access(BORE, os.X_OK):
        shutil.copy(BORE, os.path.join(workdir, "bore"))
    lines = [
        "set -eu",
        "W=%s" % workdir,
        "ip link set lo up",
        # An address that is not loopback, for "remote" ends (TEST-NET-1).
        "ip addr add 192.0.2.1/32 dev lo",
        "mount -t tmpfs tmpfs /home",
        "mount -t tmpfs tmpfs /tmp",
        "mount --bind $W/passwd /etc/passwd",
        "mkdir -p %s && chown 1000:1000 %s" % (HOME, HOME),
        "cleanup() { for p in $(cat $W/pids 2>/dev/null); do kill $p 2>/dev/null || true; done; }",
        "trap cleanup EXIT",
        # Waits until something listens on a TCP port of this namespace.
        "listening() { for i in $(seq 1 200); do "
        "grep -q \"^ *[0-9]*: [0-9A-F]*:$(printf '%04X' $1) [0-9A-F:]* 0A\" /proc/net/tcp /proc/net/tcp6 && return 0; "
        "sleep 0.1; done; echo \"nothing listens on $1\" >&2; return 1; }",
    ] + body + [
        "$W/postern query remote_access_tools --format json > $W/rows.json",
        "$W/postern audit --format json > $W/audit.json || true",
    ]
    script = os.path.join(workdir, "host.sh")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    done = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private",
                           "sh", script], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        logs = ""
        for name in sorted(os.listdir(workdir)):
            if name.endswith(".log"):
                with open(os.path.join(workdir, name), errors="replace") as f:
                    logs += "\n--- %s\n%s" % (name, f.read()[-2000:])
        raise AssertionError(done.stderr[-4000:] + logs)
    with open(os.path.join(workdir, "rows.json")) as f:
        rows = json.load(f)
    with open(os.path.join(workdir, "audit.json")) as f:
        audit = json.load(f)
    return rows, audit


def pids(workdir):
    with open(os.path.join(workdir, "pids")) as f:
        return [int(p) for p in f.read().split()]


def rows_of(rows, tool_id, evidence_type=None):
    return [r for r in rows if r.get("tool_id") == tool_id
            and (evidence_type is None or r.get("evidence_type") == evidence_type)]


REAL_TOOLS = [
    # x11vnc on an Xvfb display, as installed from Debian.
    "Xvfb :7 -nolisten tcp -screen 0 640x480x16 >/dev/null 2>&1 & echo $! >> $W/pids",
    "for i in $(seq 1 100); do [ -e /tmp/.X11-unix/X7 ] && break; sleep 0.1; done",
    "x11vnc -display :7 -rfbport 5907 -forever -shared -nopw -quiet >$W/x11vnc.log 2>&1 & "
    "echo $! > $W/x11vnc.pid; cat $W/x11vnc.pid >> $W/pids",
    "listening 5907",
    # sshd on loopback, and a reverse tunnel through it.
    "mkdir -p /tmp/sshd /run/sshd && chmod 700 /tmp/sshd",
    "ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/host_key",
    "ssh-keygen -q -t ed25519 -N '' -f /tmp/sshd/client_key",
    "cp /tmp/sshd/client_key.pub /tmp/sshd/authorized_keys",
    "printf 'ListenAddress 127.0.0.1\\nPort 2222\\nHostKey /tmp/sshd/host_key\\n"
    "AuthorizedKeysFile /tmp/sshd/authorized_keys\\nStrictModes no\\nUsePAM no\\n"
    "PermitRootLogin prohibit-password\\nPidFile none\\n' > /tmp/sshd/config",
    "/usr/sbin/sshd -f /tmp/sshd/config -D -e 2>$W/sshd.log & echo $! >> $W/pids",
    "listening 2222",
    "ssh -F /dev/null -i /tmp/sshd/client_key -o StrictHostKeyChecking=no "
    "-o UserKnownHostsFile=/dev/null -o BatchMode=yes -p 2222 -N "
    "-R 127.0.0.1:9022:127.0.0.1:22 root@127.0.0.1 2>$W/ssh.log & "
    "echo $! > $W/ssh.pid; cat $W/ssh.pid >> $W/pids",
    "listening 9022",
    # The same without -R on the command line: an -F configuration whose
    # Include holds the RemoteForward for that host.
    "printf 'Include /tmp/sshd/hosts.conf\\n' > /tmp/sshd/client_config",
    "printf 'Host tunnel-host\\n  HostName 127.0.0.1\\n  Port 2222\\n  User root\\n"
    "  IdentityFile /tmp/sshd/client_key\\n  StrictHostKeyChecking no\\n"
    "  UserKnownHostsFile /dev/null\\n  BatchMode yes\\n"
    "  RemoteForward 127.0.0.1:9023 127.0.0.1:22\\n' > /tmp/sshd/hosts.conf",
    "ssh -F /tmp/sshd/client_config -N tunnel-host 2>$W/ssh-config.log & "
    "echo $! > $W/ssh-config.pid; cat $W/ssh-config.pid >> $W/pids",
    "listening 9023",
    # bore from crates.io, renamed in ~/.cargo/bin, as mallory, argv[0]
    # spoofed: a server and a client tunnelling a port through it.
    "mkdir -p %s/.cargo/bin" % HOME,
    "cp $W/bore %s/.cargo/bin/cache-warm" % HOME,
    "ln %s/.cargo/bin/cache-warm %s/.cargo/bin/kworker-sync" % (HOME, HOME),
    # A third copy that never runs, where pipx and npm put commands.
    "mkdir -p %s/.local/bin && cp $W/bore %s/.local/bin/notes-sync" % (HOME, HOME),
    "chown -R 1000:1000 %s" % HOME,
    "setpriv --reuid=1000 --regid=1000 --clear-groups bash -c "
    "'exec -a \"[kworker/u8:3]\" %s/.cargo/bin/cache-warm server --min-port 20000 --max-port 20010' "
    ">$W/bore-server.log 2>&1 & echo $! > $W/bore-server.pid; cat $W/bore-server.pid >> $W/pids" % HOME,
    "listening 7835",
    "setpriv --reuid=1000 --regid=1000 --clear-groups bash -c "
    "'exec -a \"[kworker/1:2]\" %s/.cargo/bin/kworker-sync local 8000 --to 192.0.2.1 --port 20001' "
    ">$W/bore-client.log 2>&1 & echo $! > $W/bore-client.pid; cat $W/bore-client.pid >> $W/pids" % HOME,
    "listening 20001",
]


def read_pid(workdir, name):
    with open(os.path.join(workdir, name + ".pid")) as f:
        return int(f.read().strip())


def test_real_tools_are_found_however_they_are_named(workdir):
    require_tools()
    rows, audit = run_in_namespace(workdir, REAL_TOOLS)
    dump = json.dumps(rows, indent=1)

    # x11vnc: its process and the port it holds, both high.
    x11vnc = read_pid(workdir, "x11vnc")
    assert any(r["pid"] == str(x11vnc) and r["confidence"] == "high"
               for r in rows_of(rows, "x11vnc", "process")), dump
    assert any(r["port"] == "5907" and r["pid"] == str(x11vnc) and r["confidence"] == "high"
               for r in rows_of(rows, "x11vnc", "listening_port")), dump

    # The reverse tunnel: the ssh client is named with its forward.
    ssh = read_pid(workdir, "ssh")
    tunnel = [r for r in rows_of(rows, "ssh_reverse_tunnel", "process") if r["pid"] == str(ssh)]
    assert tunnel and tunnel[0]["confidence"] == "high", dump
    assert "-R 127.0.0.1:9022:127.0.0.1:22" in tunnel[0]["evidence"], tunnel
    assert "root@127.0.0.1" in tunnel[0]["evidence"], tunnel

    # Configured, not on the command line: found through -F and Include.
    configured = read_pid(workdir, "ssh-config")
    tunnel = [r for r in rows_of(rows, "ssh_reverse_tunnel", "process") if r["pid"] == str(configured)]
    assert tunnel and tunnel[0]["confidence"] == "high", dump
    assert "RemoteForward 127.0.0.1:9023 127.0.0.1:22 in /tmp/sshd/hosts.conf" in tunnel[0]["evidence"], tunnel

    # bore, renamed and with a kernel thread's argv[0]: known by what its
    # executable carries, as mallory, both ends.
    for name, path in (("bore-server", "cache-warm"), ("bore-client", "kworker-sync")):
        pid = read_pid(workdir, name)
        found = [r for r in rows_of(rows, "bore", "process") if r["pid"] == str(pid)]
        assert found, (name, dump)
        assert found[0]["confidence"] == "high", found
        assert "carries bore's built-in markers" in found[0]["evidence"], found
        assert found[0]["user"] == "mallory", found
        assert found[0]["path"].startswith(HOME + "/.cargo/bin/"), found
    # The client's connection to the server's control port names the
    # process, and is high: that process is already known to be bore.
    client = read_pid(workdir, "bore-client")
    assert any(r["pid"] == str(client) and "192.0.2.1:7835" in r["evidence"]
               and r["confidence"] == "high"
               for r in rows_of(rows, "bore", "connection")), dump

    # At rest, renamed and never run: what the file carries names it.
    for path in (HOME + "/.local/bin/notes-sync", HOME + "/.cargo/bin/cache-warm"):
        at_rest = [r for r in rows_of(rows, "bore", "file") if r["path"] == path]
        assert at_rest and at_rest[0]["confidence"] == "high", (path, dump)
        assert "carries bore's built-in markers" in at_rest[0]["evidence"], at_rest

    # The audit counts every one of them as unapproved.
    unapproved = set(audit["unapproved_remote_access_tool_ids"])
    assert {"x11vnc", "ssh_reverse_tunnel", "bore"} <= unapproved, unapproved


ORDINARY_SERVICES = [
    # Web servers on ports that AnyDesk, NoMachine, ngrok's inspector and
    # inlets are known for, on every address and on loopback only.
    "cd /tmp",
    "python3 -m http.server 7070 --bind 0.0.0.0 >/dev/null 2>&1 & echo $! >> $W/pids",
    "python3 -m http.server 4000 --bind 0.0.0.0 >/dev/null 2>&1 & echo $! >> $W/pids",
    "python3 -m http.server 4040 --bind 127.0.0.1 >/dev/null 2>&1 & echo $! >> $W/pids",
    "python3 -m http.server 8123 --bind 0.0.0.0 >/dev/null 2>&1 & echo $! >> $W/pids",
    "for p in 7070 4000 4040 8123; do listening $p; done",
]

# What scripts/test installs on this machine for the tests above: a real VNC
# server package is a real finding, not a false positive.
INSTALLED_BY_THE_TESTS = {"x11vnc"}


def test_ordinary_services_and_this_machines_packages_are_not_high(workdir):
    rows, audit = run_in_namespace(workdir, ORDINARY_SERVICES)
    dump = json.dumps(rows, indent=1)
    high = [r for r in rows if r.get("confidence") == "high"
            and r.get("tool_id") not in INSTALLED_BY_THE_TESTS]
    assert not high, json.dumps(high, indent=1)
    # A port alone is never more than a low hint, and loopback is not even that.
    for r in rows:
        if r.get("evidence_type") == "listening_port" and r.get("port") in ("7070", "4000", "4040", "8123"):
            assert r["confidence"] == "low", r
            assert r["port"] != "4040", r
    # The audit does not call a port-only hint an unapproved tool.
    unapproved = set(audit["unapproved_remote_access_tool_ids"])
    assert not unapproved - INSTALLED_BY_THE_TESTS, (unapproved, dump[:3000])
