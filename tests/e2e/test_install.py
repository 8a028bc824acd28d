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
