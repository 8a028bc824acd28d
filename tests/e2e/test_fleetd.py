"""The fleetd path: the file scripts/package makes for fleetd, published
under the name fleet/agent-options.yml gives, laid out as orbit lays out what
it downloads, is loaded by osquery's autoload rules (the C++ peer) and
answers queries.

Facts this test models (fleetdm/fleet): orbit's ExtensionRunner
(orbit/pkg/update/flag_runner.go) fetches target `extensions/<name>` as
`<name>.ext` from `extensions/<name>/<platform>/<channel>/<name>.ext` on the
update server, runs it with `--help` and keeps it only if that exits 0,
stores it at <root>/bin/extensions/<name>/<platform>/<channel>/<name>.ext
(directories and file 0755, root's), and writes <root>/extensions.load (0600)
passed to osqueryd as --extensions_autoload. `fleetctl updates add --name
extensions/<name> --platform P --version V -t T --target F` stages F at
extensions/<name>/P/<V and each tag>/<name> + ".ext" (ee/fleetctl/updates.go)."""

import os
import re
import subprocess
import sys

import pytest

from cpp_core import CppCore
from harness import REPO, wait_for

sys.path.insert(0, os.path.join(REPO, "tests", "packs"))
from packlib import enabled_extensions  # noqa: E402

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="fleetd's linux target is x86_64")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("fleetd-pkg")
    res = subprocess.run([os.path.join(REPO, "scripts", "package"), "--out", str(out), "--profile", "dev",
                          "--only", "fleetd"], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stderr
    return out, res.stdout


def staged_path(command):
    """Where `fleetctl updates add` puts the file for each tag, by its rule."""
    args = command.split()
    value = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}
    name, platform, target = value["--name"], value["--platform"], value["--target"]
    assert target.endswith(".ext"), "fleetctl picks the staged suffix from the source name"
    tags = [value["--version"], value["-t"]]
    return {tag: f"{name}/{platform}/{tag}/{name[len('extensions/'):]}.ext" for tag in tags}


def test_the_published_name_is_the_one_orbit_asks_for(artifact):
    out, printed = artifact
    command = " ".join(l.strip().rstrip("\\") for l in printed.splitlines() if "fleetctl updates add" in l
                       or "--name" in l)
    staged = staged_path(command)
    ext = enabled_extensions()["postern_linux"]
    # orbit asks the update server for this path.
    wanted = f"extensions/postern_linux/{ext['platform']}/{ext['channel']}/postern_linux.ext"
    assert staged[ext["channel"]] == wanted, (staged, wanted)
    assert (out / "fleetd" / "linux" / "postern_linux.ext").is_file()
    sums = (out / "SHA256SUMS").read_text()
    assert re.search(r"^[0-9a-f]{64}  fleetd/linux/postern_linux.ext$", sums, re.M), sums


def orbit_layout(root, source, mode=0o755, dir_mode=0o755):
    """What orbit leaves on a host after fetching the extension."""
    ext = enabled_extensions()["postern_linux"]
    channel_dir = os.path.join(root, "bin", "extensions", "postern_linux", ext["platform"], ext["channel"])
    os.makedirs(channel_dir)
    for d in (root, os.path.join(root, "bin"), os.path.join(root, "bin", "extensions"),
              os.path.dirname(os.path.dirname(channel_dir)), os.path.dirname(channel_dir)):
        os.chmod(d, 0o755)
    os.chmod(channel_dir, dir_mode)
    path = os.path.join(channel_dir, "postern_linux.ext")
    with open(source, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    os.chmod(path, mode)
    load = os.path.join(root, "extensions.load")
    with open(load, "w") as f:
        f.write(path + "\n")
    os.chmod(load, 0o600)
    return path, load


def test_orbit_s_exec_check_passes(artifact):
    out, _ = artifact
    res = subprocess.run([str(out / "fleetd" / "linux" / "postern_linux.ext"), "--help"], capture_output=True,
                         timeout=30)
    assert res.returncode == 0 and b"Usage" in res.stdout


def test_osquery_loads_it_from_orbit_s_layout(artifact, workdir):
    out, _ = artifact
    path, load = orbit_layout(os.path.join(workdir, "opt", "orbit"), out / "fleetd" / "linux" / "postern_linux.ext")
    core = CppCore(workdir, extensions_autoload=load)
    pid = None
    try:
        wait_for(lambda: core.events("autoload"), what="autoload")
        event = core.events("autoload")[0]
        assert event["result"] == "started" and event["path"] == path, core.log()
        pid = event["pid"]
        wait_for(lambda: core.registered(), timeout=20, what="postern registered")
        uuid, ext = core.registered()
        assert set(ext["registry"]["table"]) >= {"remote_access_tools", "security_control_health"}
        res = core.generate(uuid, "security_control_health")
        assert res["status"]["code"] == 0 and res["response"], res
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"OSQUERY_EXTENSION=" in f.read()
    finally:
        core.stop()
        if pid:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


@pytest.mark.parametrize("mode,dir_mode,why", [
    (0o757, 0o755, "Extension binary has unsafe permissions"),
    (0o755, 0o1777, "Will not autoload extension with unsafe directory permissions"),
    (0o644, 0o755, "Extension binary has unsafe permissions"),
])
def test_a_layout_osquery_refuses_is_refused(artifact, workdir, mode, dir_mode, why):
    out, _ = artifact
    path, load = orbit_layout(os.path.join(workdir, "opt", "orbit"), out / "fleetd" / "linux" / "postern_linux.ext",
                              mode, dir_mode)
    core = CppCore(workdir, extensions_autoload=load)
    try:
        wait_for(lambda: core.events("autoload"), what="autoload")
        event = core.events("autoload")[0]
        assert event["result"] == "refused" and event["why"] == why, event
        assert core.registered() is None
    finally:
        core.stop()
