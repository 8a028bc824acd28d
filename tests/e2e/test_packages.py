"""The .deb, installed, upgraded, removed and purged with Debian's dpkg on
this machine, as a fleet would: the extension lands where osquery's
autoload rules accept it, its line is added to /etc/osquery/extensions.load
once and taken out alone, an upgrade keeps the organisation's policy and the
enrollment baseline, a purge deletes the state but never the policy.

Needs root and dpkg; postern must not be installed already (a machine that
has it is left alone). /etc/osquery/extensions.load is restored afterwards.
"""

import os
import shutil
import stat
import subprocess

import pytest

from harness import REPO

EXT = "/usr/lib/postern/postern.ext"
LOAD = "/etc/osquery/extensions.load"


def installed():
    return subprocess.run(["dpkg", "-s", "postern"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("dpkg") is None or installed(),
    reason="needs root, dpkg, and no postern package installed")


def build(out, version):
    subprocess.run([os.path.join(REPO, "scripts", "package"), "--out", out, "--profile", "dev",
                    "--deb-version", version, "--only", "deb"], check=True, capture_output=True, cwd=REPO)
    return os.path.join(out, "postern_%s_amd64.deb" % version)


def dpkg(*args):
    done = subprocess.run(["dpkg", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def saved_autoload():
    before = open(LOAD).read() if os.path.exists(LOAD) else None
    existed_dir = os.path.isdir("/etc/osquery")
    yield
    if installed():
        subprocess.run(["dpkg", "-P", "postern"], capture_output=True)
    if before is None:
        if os.path.exists(LOAD):
            os.unlink(LOAD)
        if not existed_dir:
            shutil.rmtree("/etc/osquery", ignore_errors=True)
    else:
        with open(LOAD, "w") as f:
            f.write(before)


def lines():
    return open(LOAD).read().splitlines()


def test_install_upgrade_remove_purge(tmp_path, saved_autoload):
    first = build(str(tmp_path / "v1"), "0.1.0-1")
    second = build(str(tmp_path / "v2"), "0.1.0-2")
    os.makedirs("/etc/osquery", exist_ok=True)
    # Another extension, its line without a final newline.
    with open(LOAD, "w") as f:
        f.write("# managed by hand\n/opt/other/other.ext")

    dpkg("-i", first)
    st = os.stat(EXT)
    assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) == 0o755
    assert not os.stat(os.path.dirname(EXT)).st_mode & stat.S_ISVTX
    assert lines() == ["# managed by hand", "/opt/other/other.ext", EXT]
    state = os.stat("/var/lib/postern")
    assert state.st_uid == 0 and stat.S_IMODE(state.st_mode) == 0o700
    assert os.path.isdir("/etc/postern") and not os.listdir("/etc/postern"), "no policy is shipped"
    out = subprocess.run(["postern", "tables", "--format", "json"], capture_output=True, text=True)
    assert out.returncode == 0 and "remote_access_tools" in out.stdout

    # The organisation's policy and the baseline survive an upgrade.
    with open("/etc/postern/policy.json", "w") as f:
        f.write('{"remote_access":{"approved":[]}}')
    with open("/var/lib/postern/baseline.json", "w") as f:
        f.write("kept")
    dpkg("-i", second)
    assert lines().count(EXT) == 1
    assert open("/etc/postern/policy.json").read().startswith('{"remote_access"')
    assert open("/var/lib/postern/baseline.json").read() == "kept"
    assert "0.1.0-2" in dpkg("-s", "postern").stdout

    # Remove: only its own line goes; state and policy stay.
    dpkg("-r", "postern")
    assert not os.path.exists(EXT)
    assert lines() == ["# managed by hand", "/opt/other/other.ext"]
    assert os.path.exists("/var/lib/postern/baseline.json")

    # Purge: the state goes, the organisation's policy stays.
    dpkg("-P", "postern")
    assert not os.path.exists("/var/lib/postern")
    assert os.path.exists("/etc/postern/policy.json")
    os.unlink("/etc/postern/policy.json")
    os.rmdir("/etc/postern")


def scriptlet(rpm_file, name):
    """The body of one scriptlet (`postinstall`, `postuninstall`)."""
    text = subprocess.run(["rpm", "-qp", "--scripts", rpm_file], capture_output=True, text=True,
                          check=True).stdout
    body, on = [], False
    for line in text.splitlines():
        if line.endswith("scriptlet (using /bin/sh):") or line.endswith("scriptlet:"):
            on = line.startswith(name + " ")
            continue
        if on:
            body.append(line)
    assert body, text
    return "\n".join(body) + "\n"


@pytest.mark.skipif(shutil.which("rpm") is None or shutil.which("unshare") is None,
                    reason="needs Debian's rpm and unshare")
def test_the_rpm_holds_the_same_layout_and_its_scriptlets_work(tmp_path):
    out = str(tmp_path / "pk")
    subprocess.run([os.path.join(REPO, "scripts", "package"), "--out", out, "--profile", "dev",
                    "--deb-version", "0.1.0-1"], check=True, capture_output=True, cwd=REPO)
    rpm_file = os.path.join(out, "postern-0.1.0-1.x86_64.rpm")
    sums = open(os.path.join(out, "SHA256SUMS")).read()
    assert "postern-0.1.0-1.x86_64.rpm" in sums and "postern_0.1.0-1_amd64.deb" in sums

    dump = subprocess.run(["rpm", "-qp", "--dump", rpm_file], capture_output=True, text=True,
                          check=True).stdout
    files = {f[0]: (f[4], f[5], f[6]) for f in (line.split() for line in dump.splitlines())}
    assert files[EXT] == ("0100755", "root", "root")
    assert files["/usr/bin/postern"] == ("0100755", "root", "root")
    assert not any(p.startswith("/etc/postern/") for p in files), "no policy is shipped"

    # Installed into a scratch root (files only: the scriptlets would run
    # chrooted into it).
    scratch = str(tmp_path / "root")
    subprocess.run(["rpm", "--root", scratch, "--initdb"], check=True, capture_output=True)
    subprocess.run(["rpm", "--root", scratch, "-i", "--nodeps", "--noscripts", rpm_file],
                   check=True, capture_output=True)
    st = os.stat(scratch + EXT)
    assert stat.S_IMODE(st.st_mode) == 0o755 and st.st_uid == 0

    # The scriptlets, run for real in a private mount namespace where /etc
    # and /var/lib are this test's: install, upgrade, upgrade's old postun,
    # erase.
    post = tmp_path / "post.sh"
    post.write_text(scriptlet(rpm_file, "postinstall"))
    postun = tmp_path / "postun.sh"
    postun.write_text(scriptlet(rpm_file, "postuninstall"))
    check = tmp_path / "check.sh"
    check.write_text("\n".join([
        "set -eu",
        # /etc is a scratch copy holding only what chown needs.
        "mkdir -p %s/etc" % tmp_path,
        "cp /etc/passwd /etc/group %s/etc/" % tmp_path,
        "mount --bind %s/etc /etc" % tmp_path,
        "mount -t tmpfs tmpfs /var/lib",
        "mkdir -p /etc/osquery",
        "printf '/opt/other/other.ext' > /etc/osquery/extensions.load",
        "sh %s 1" % post, "sh %s 2" % post,
        "cp /etc/osquery/extensions.load %s/after-install" % tmp_path,
        "stat -c %%a /var/lib/postern > %s/state-mode" % tmp_path,
        "sh %s 1" % postun,
        "cp /etc/osquery/extensions.load %s/after-upgrade" % tmp_path,
        "sh %s 0" % postun,
        "cp /etc/osquery/extensions.load %s/after-erase" % tmp_path,
    ]) + "\n")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", str(check)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    read = lambda name: (tmp_path / name).read_text().splitlines()
    assert read("after-install") == ["/opt/other/other.ext", EXT]
    assert read("state-mode") == ["700"]
    assert read("after-upgrade") == ["/opt/other/other.ext", EXT]
    assert read("after-erase") == ["/opt/other/other.ext"]
    assert (tmp_path / "etc" / "postern").is_dir(), "the policy directory, created empty"
    assert not os.listdir(tmp_path / "etc" / "postern")
