"""scripts/install.sh sets up what osquery's autoload permission check needs,
is idempotent, and --uninstall undoes it."""

import os
import stat
import subprocess

import pytest

from harness import REPO, postern_bin

SCRIPT = os.path.join(REPO, "scripts", "install.sh")


@pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root")
def test_install_twice_then_uninstall(workdir):
    dest = os.path.join(workdir, "lib", "postern.ext")
    autoload = os.path.join(workdir, "osquery", "extensions.load")
    os.makedirs(os.path.dirname(autoload))
    with open(autoload, "w") as f:
        f.write("# other extensions\n/opt/other/other.ext\n")
    args = [SCRIPT, "--binary", postern_bin(), "--dest", dest, "--autoload", autoload]
    for _ in range(2):
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        assert "osqueryi --extension" in out
    st = os.stat(dest)
    assert st.st_uid == 0
    assert stat.S_IMODE(st.st_mode) == 0o755
    assert not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    lines = open(autoload).read().splitlines()
    assert lines.count(dest) == 1 and "/opt/other/other.ext" in lines
    # The installed binary works.
    subprocess.run([dest, "tables", "--format", "json"], check=True, capture_output=True)

    subprocess.run(args + ["--uninstall"], check=True, capture_output=True)
    assert not os.path.exists(dest)
    assert open(autoload).read().splitlines() == ["# other extensions", "/opt/other/other.ext"]


def test_refuses_names_osquery_would_not_load(workdir):
    if os.geteuid() != 0:
        pytest.skip("the root check comes first")
    res = subprocess.run([SCRIPT, "--binary", postern_bin(), "--dest", os.path.join(workdir, "postern")],
                         capture_output=True, text=True)
    assert res.returncode == 1 and "must end in .ext" in res.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="installing needs root")
def test_existing_directories_are_checked_never_changed(workdir):
    """`install -d` used to re-own and re-mode an existing directory: with
    --dest /tmp/x.ext it turned /tmp from 1777 into 0755."""
    autoload = os.path.join(workdir, "extensions.load")

    def install_into(d):
        return subprocess.run([SCRIPT, "--binary", postern_bin(), "--dest", os.path.join(d, "postern.ext"),
                               "--autoload", autoload], capture_output=True, text=True)

    sticky = os.path.join(workdir, "sticky")
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)
    res = install_into(sticky)
    assert res.returncode == 1 and "sticky bit" in res.stderr, res.stderr
    assert stat.S_IMODE(os.stat(sticky).st_mode) == 0o1777

    users = os.path.join(workdir, "users")
    os.mkdir(users)
    os.chmod(users, 0o755)
    os.chown(users, 1000, 1000)
    res = install_into(users)
    assert res.returncode == 1 and "not root's alone" in res.stderr, res.stderr
    st = os.stat(users)
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (1000, 0o755)
    assert not os.path.exists(os.path.join(users, "postern.ext"))

    # Group-writable only is refused too.
    group = os.path.join(workdir, "group")
    os.mkdir(group)
    os.chmod(group, 0o775)
    res = install_into(group)
    assert res.returncode == 1 and "not root's alone" in res.stderr, res.stderr
    assert stat.S_IMODE(os.stat(group).st_mode) == 0o775

    # Root's own directory with another mode keeps it.
    own = os.path.join(workdir, "own")
    os.mkdir(own)
    os.chmod(own, 0o711)
    res = install_into(own)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE(os.stat(own).st_mode) == 0o711
    assert os.path.exists(os.path.join(own, "postern.ext"))
