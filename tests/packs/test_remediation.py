"""The Fleet remediation scripts act only in the situation they were written
for, do nothing the second time, and refuse otherwise. Commands they call
(ufw, systemctl, apt-get, postern) are stand-ins on PATH that record calls."""

import os
import stat
import subprocess
import textwrap

import pytest

from packlib import REPO, postern_bin

SCRIPTS = os.path.join(REPO, "scripts", "remediation")
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or os.uname().sysname != "Linux",
                                reason="the scripts refuse unless root on Linux")


def stub(bindir, name, body):
    path = os.path.join(bindir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + textwrap.dedent(body))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)


def run(script, bindir, env=None):
    full = dict(os.environ, PATH=f"{bindir}:/usr/bin:/bin", **(env or {}))
    return subprocess.run([os.path.join(SCRIPTS, script)], capture_output=True, text=True, env=full)


def calls(tmp_path):
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_enable_firewall(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    state = tmp_path / "ufw-active"
    stub(bindir, "ufw", f"""
        echo "ufw $*" >> {tmp_path}/calls.log
        if [ "$1" = status ]; then [ -e {state} ] && echo "Status: active" || echo "Status: inactive"; fi
        if [ "$1" = --force ] && [ "$2" = enable ]; then touch {state}; fi
        exit 0
    """)
    first = run("enable-firewall.sh", bindir)
    assert first.returncode == 0 and "ufw enabled" in first.stdout
    assert "ufw --force enable" in calls(tmp_path)
    second = run("enable-firewall.sh", bindir)
    assert second.returncode == 0 and "already active" in second.stdout
    assert calls(tmp_path).count("ufw --force enable") == 1
    (bindir / "ufw").unlink()
    none = run("enable-firewall.sh", bindir)
    assert none.returncode == 3 and "refusing" in none.stderr


def test_restart_edr(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    running = tmp_path / "falcon-running"
    stub(bindir, "systemctl", f"""
        echo "systemctl $*" >> {tmp_path}/calls.log
        case "$1" in
          list-unit-files) [ "$2" = falcon-sensor.service ] && echo "falcon-sensor.service enabled enabled"; exit 0 ;;
          is-active) [ -e {running} ]; exit $? ;;
          restart) touch {running}; exit 0 ;;
        esac
        exit 0
    """)
    first = run("restart-edr.sh", bindir)
    assert first.returncode == 0 and "falcon-sensor restarted" in first.stdout
    second = run("restart-edr.sh", bindir)
    assert second.returncode == 0 and "falcon-sensor is running" in second.stdout
    assert calls(tmp_path).count("systemctl restart falcon-sensor") == 1


def test_remove_unapproved_remote_access(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fixture = os.path.join(REPO, "extension", "tests", "fixtures", "laptop_farm")
    removed = tmp_path / "removed"
    # postern on the fixture host, with its policy (tailscale approved); a
    # removed package disappears from its dpkg status.
    wrapper = tmp_path / "postern"
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        out=$({postern_bin()} "$@" --root {fixture}/root --policy {fixture}/policy.json) || exit $?
        if [ -e {removed} ]; then printf '%s\\n' "$out" | grep -v "$(cat {removed})"; else printf '%s\\n' "$out"; fi
    """))
    wrapper.chmod(0o755)
    stub(bindir, "apt-get", f"""
        echo "apt-get $*" >> {tmp_path}/calls.log
        for last; do :; done
        echo "deb package $last " > {removed}
    """)
    env = {"POSTERN": str(wrapper)}
    first = run("remove-unapproved-remote-access.sh", bindir, env)
    assert first.returncode == 0, first.stderr
    assert calls(tmp_path) == ["apt-get remove -y --purge xrdp"], "only the unapproved deb; tailscale is approved"
    second = run("remove-unapproved-remote-access.sh", bindir, env)
    assert second.returncode == 0 and "nothing to do" in second.stdout
    assert len(calls(tmp_path)) == 1
    missing = run("remove-unapproved-remote-access.sh", bindir, {"POSTERN": str(tmp_path / "absent")})
    assert missing.returncode == 3 and "refusing" in missing.stderr
