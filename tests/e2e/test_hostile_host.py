"""The live host as the person postern watches would leave it, in osquery
mode against the strict C++ osquery peer: FIFOs wherever a table reads a
user's files, a flood of files in /tmp, a tool hidden behind 120,000 names.

postern runs in a private mount namespace (unshare) where tmpfs covers /home,
/tmp and /var/tmp and /etc/passwd is bind-mounted with a user `mallory`, so
this machine's own directories are never touched. The namespace's files stay
reachable from outside through /proc/<pid>/root, which is how the test
removes the FIFOs while postern runs.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from cpp_core import CppCore
from harness import postern_bin, wait_for

HOME = "/home/mallory"
FIFOS = [
    HOME + "/.config/autostart/evil.desktop",
    HOME + "/.config/systemd/user/evil.service",
    HOME + "/Library/LaunchAgents/com.evil.agent.plist",
    HOME + "/Applications/Evil.app/Contents/Info.plist",
    HOME + "/.config/google-chrome/Default/Preferences",
    HOME + "/.mozilla/firefox/abcd.default/extensions.json",
    HOME + "/Downloads/anydesk",
    HOME + "/.local/bin/rustdesk",
    "/tmp/anydesk",
]
TABLES = ["remote_access_tools", "security_control_health", "new_software_since_enrollment",
          "laptop_farm_signals"]
# Short against the default 60 s, long enough for a debug build on a busy
# 2-core machine to walk the 126,000 files it creates.
DEADLINE_SECS = 20


def namespaces_work():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           capture_output=True, timeout=10)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not namespaces_work(),
                                reason="needs root and unshare (mount namespaces)")


def setup_script(workdir):
    """The shell script that builds the hostile host inside the namespace,
    then becomes postern."""
    passwd = os.path.join(workdir, "passwd")
    with open(passwd, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/bash\nmallory:x:1000:1000::%s:/bin/bash\n" % HOME)
    lines = [
        "set -eu",
        "mount -t tmpfs tmpfs /home",
        "mount -t tmpfs tmpfs /tmp",
        "mount -t tmpfs tmpfs /var/tmp",
        "mount --bind %s /etc/passwd" % passwd,
        "mkdir -p %s/Downloads/junk %s/Desktop" % (HOME, HOME),
    ]
    for fifo in FIFOS:
        lines += ["mkdir -p '%s'" % os.path.dirname(fifo), "mkfifo '%s'" % fifo]
    lines += [
        # More files named like a tool installer than /tmp's budget allows.
        "cd /tmp && seq -f 'anydesk_%g.deb' 1 6000 | xargs touch",
        # A tool behind 120,000 other names.
        "cd %s/Downloads/junk && seq -f 'f%%06g.txt' 1 120000 | xargs touch" % HOME,
        "cp /bin/true %s/Downloads/junk/rustdesk" % HOME,
        "cd /",
        'exec "$@"',
    ]
    script = os.path.join(workdir, "hostile-host.sh")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    return script


@pytest.fixture
def shared_workdir():
    # Under /run, which the namespace does not cover, so the sockets are seen
    # from both sides (Unix socket paths are limited to ~108 bytes).
    base = "/run" if os.path.isdir("/run") else None
    d = tempfile.mkdtemp(prefix="pst", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def hostile(shared_workdir):
    core = CppCore(shared_workdir, interval=0.5)
    env = dict(os.environ)
    env.update({
        "POSTERN_STATE_DIR": os.path.join(shared_workdir, "state"),
        "POSTERN_TABLE_DEADLINE_SECS": str(DEADLINE_SECS),
    })
    log = open(os.path.join(shared_workdir, "postern.log"), "w")
    # The binary may live under /tmp (a clone there), which the namespace
    # covers: run a copy from the shared directory.
    binary = os.path.join(shared_workdir, "postern")
    shutil.copy(postern_bin(), binary)
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", setup_script(shared_workdir),
         binary, "--socket", core.socket, "--timeout", "30", "--interval", "1"],
        stdout=log, stderr=log, env=env)
    try:
        try:
            uuid, _ = wait_for(core.registered, timeout=60, what="registration from the namespace")
        except AssertionError:
            log.flush()
            with open(log.name) as f:
                raise AssertionError("postern did not register; its output:\n" + f.read()[-4000:])
        yield core, uuid, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        core.stop()


def generate_all(core, uuid):
    out = {}
    for table in TABLES:
        started = time.monotonic()
        reply = core.generate(uuid, table, timeout=60)
        elapsed = time.monotonic() - started
        assert reply.get("status", {}).get("code") == 0, (table, reply)
        assert elapsed < DEADLINE_SECS + 10, (table, elapsed)
        out[table] = reply["response"]
    return out


def test_fifos_and_floods_on_the_live_host_block_nothing(hostile):
    core, uuid, proc = hostile
    first = generate_all(core, uuid)
    tools = first["remote_access_tools"]
    assert any(r.get("tool_id") == "rustdesk" and r.get("path") == HOME + "/Downloads/junk/rustdesk"
               for r in tools), json.dumps(tools, indent=1)
    incomplete = [r["path"] for r in tools if r.get("evidence_type") == "scan_incomplete"]
    assert incomplete == ["/tmp"], incomplete
    software = first["new_software_since_enrollment"]
    # The first run records the baseline; whatever it says, /tmp's walk is
    # reported as incomplete.
    assert "/tmp" in [r.get("path") for r in software if r.get("source") == "scan_incomplete"]

    # Remove the FIFOs through the namespace's own view of its files; calls
    # keep answering, and osquery never lost the extension.
    root = "/proc/%d/root" % proc.pid
    # The shell exec'd into postern, so its pid's root is the namespace's.
    for fifo in FIFOS:
        os.unlink(root + fifo)
    generate_all(core, uuid)
    assert core.registered() is not None
    assert not core.events("ping_failed")
    assert proc.poll() is None
