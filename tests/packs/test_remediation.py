"""The Fleet remediation scripts act only in the situation they were written
for, do nothing the second time, and refuse otherwise. Commands they call
(ufw, systemctl, apt-get, postern) are stand-ins on PATH that record calls."""

import os
import stat
import subprocess
import textwrap

import pytest

from packlib import REPO, enabled_extensions, postern_bin

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


def as_macos(bindir):
    stub(bindir, "uname", 'echo Darwin\n')


def test_the_wrong_platform_is_refused_with_the_manual_step(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    as_macos(bindir)
    edr = run("restart-edr.sh", bindir)
    assert edr.returncode == 2 and "not on macOS" in edr.stderr and "MDM" in edr.stderr
    remove = run("remove-unapproved-remote-access.sh", bindir)
    assert remove.returncode == 2 and "uninstaller" in remove.stderr
    stub(bindir, "uname", 'echo FreeBSD\n')
    for script in ("restart-edr.sh", "remove-unapproved-remote-access.sh", "enable-firewall.sh"):
        res = run(script, bindir)
        assert res.returncode == 2 and "only" in res.stderr, (script, res.stderr)


def test_enable_firewall_on_macos(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    as_macos(bindir)
    state = tmp_path / "fw-on"
    fw = tmp_path / "socketfilterfw"
    stub(tmp_path, "socketfilterfw", f"""
        echo "socketfilterfw $*" >> {tmp_path}/calls.log
        case "$1" in
          --getglobalstate) if [ -e {state} ]; then echo "Firewall is enabled. (State = 1)"; else echo "Firewall is disabled. (State = 0)"; fi ;;
          --setglobalstate) [ "$2" = on ] && touch {state} ;;
        esac
    """)
    env = {"SOCKETFILTERFW": str(fw)}
    first = run("enable-firewall.sh", bindir, env)
    assert first.returncode == 0 and "firewall enabled" in first.stdout, first.stderr
    second = run("enable-firewall.sh", bindir, env)
    assert second.returncode == 0 and "already on" in second.stdout
    assert calls(tmp_path).count("socketfilterfw --setglobalstate on") == 1
    # Managed by a profile: the setting does not take; said, not claimed done.
    state.unlink()
    stub(tmp_path, "socketfilterfw", """
        case "$1" in --getglobalstate) echo "Firewall is disabled. (State = 0)" ;; esac
    """)
    stuck = run("enable-firewall.sh", bindir, env)
    assert stuck.returncode == 4 and "still off" in stuck.stderr
    gone = run("enable-firewall.sh", bindir, {"SOCKETFILTERFW": str(tmp_path / "absent")})
    assert gone.returncode == 3 and "refusing" in gone.stderr


def test_postern_is_found_where_fleetd_puts_it_and_only_if_root_owns_it(tmp_path):
    """The script looks in the package, install.sh and fleetd places; here a
    stand-in under a fake fleetd path is given as POSTERN (the real paths are
    outside the test's reach). A copy another user could have written is
    never run as root."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    channel = tmp_path / "opt/orbit/bin/extensions/postern_linux/linux/stable"
    channel.mkdir(parents=True)
    fake = channel / "postern_linux.ext"
    ran = tmp_path / "ran"
    fake.write_text(f"#!/bin/sh\ntouch {ran}\necho '[]'\n")
    fake.chmod(0o755)
    ok = run("remove-unapproved-remote-access.sh", bindir, {"POSTERN": str(fake)})
    assert ok.returncode == 0 and "nothing to do" in ok.stdout, ok.stderr
    assert ran.exists()
    ran.unlink()
    for target, mode in ((fake, 0o757), (channel, 0o777)):
        target.chmod(mode)
        res = run("remove-unapproved-remote-access.sh", bindir, {"POSTERN": str(fake)})
        assert f"ignoring {fake}" in res.stderr, res.stderr
        assert not ran.exists(), "a file others can write was run as root"
        target.chmod(0o755)
    os.chown(fake, 65534, 65534)
    res = run("remove-unapproved-remote-access.sh", bindir, {"POSTERN": str(fake)})
    assert f"ignoring {fake}" in res.stderr and not ran.exists()


def test_the_script_names_the_fleetd_layout_the_agent_options_use():
    """The fleetd path searched is orbit's bin/extensions/<name>/<platform>/
    <channel>/<name>.ext for the names in fleet/agent-options.yml."""
    script = open(os.path.join(SCRIPTS, "remove-unapproved-remote-access.sh")).read()
    for name, ext in enabled_extensions().items():
        if ext["platform"].startswith("linux"):
            assert f"/opt/orbit/bin/extensions/{name}/{ext['platform']}/*/{name}.ext" in script, name
