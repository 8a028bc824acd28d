"""The stand-in osquery core refuses what osqueryd refuses, in osqueryd's
order (osquery/extensions/interface.cpp, RegistryFactory::addBroadcast), and
its versionAtLeast is a faithful port of osquery/utils/info/version.cpp.
These call fake_osquery.Core directly; only the last two start processes."""

import os
import threading
import time

import pytest
from osquery.extensions import ttypes

import fake_osquery
from fake_osquery import Core, version_at_least
from harness import Core as CoreProcess
from harness import wait_for


def info(name="postern", sdk_version="5.0.0"):
    return ttypes.InternalExtensionInfo(name=name, version="1.2.3", sdk_version=sdk_version, min_sdk_version="0.0.0")


def route(*tables):
    return {"table": {t: [{"id": "column", "name": "c", "type": "TEXT", "op": "0"}] for t in tables}}


@pytest.fixture
def core():
    return Core("/nonexistent/osquery.em", None, 1.0)


@pytest.mark.parametrize("sdk", ["1.7.7", "1.7.8", "1.8", "2", "5.0.0", "0.0.0", "1.7.7.0", "1.10.0",
                                 "10.0.0", "1.7", "1", "", "1..7.7", " 1 . 7 . 7 ", "1.7.7-beta",
                                 "1.8.x", "abc", "x.9"])
def test_version_at_least_accepts(sdk):
    assert version_at_least("1.7.7", sdk)


@pytest.mark.parametrize("sdk", ["0.1.0", "1.7.6", "1.7.6.99", "0.9.9", "1.6", "0", "-1.0.0",
                                 "1.7.6-beta", "1.-7.7", "1.7.!", "x.0.0"])
def test_version_at_least_refuses(sdk):
    assert not version_at_least("1.7.7", sdk)


def test_version_at_least_quirks():
    # "0.0.0" on either side is osquery's please-pass value.
    assert version_at_least("0.0.0", "0.0.1")
    assert version_at_least("9.9.9", "0.0.0")
    # A non-numeric component is compared as a byte string and only refuses
    # when it sorts below; an equal or greater one goes on to the next.
    assert version_at_least("1.7.7", "1.a")  # "a" > "7", then nothing left
    assert not version_at_least("1.7.7", "1.a.0")  # "a" > "7", then 0 < 7
    # A shorter version that matches as far as it goes passes.
    assert version_at_least("1.7.7", "1.7")
    assert not version_at_least("1.7.7", "1.7. ")  # trimmed to "" < "7"
    # Leading digits are what std::stoi reads.
    assert version_at_least("1.7.7", "1.7.7rc1")
    assert version_at_least("1.7.7", "01.07.07")
    # std::stoi's out_of_range is not caught by osquery: it escapes.
    with pytest.raises(fake_osquery.StoiOutOfRange):
        version_at_least("1.7.7", "99999999999.0.0")


def test_stoi_reads_leading_digits():
    assert fake_osquery.stoi("7") == 7
    assert fake_osquery.stoi("  +12abc") == 12
    assert fake_osquery.stoi("-3") == -3
    for bad in ["", "abc", " ", "-", "+x"]:
        with pytest.raises(fake_osquery.StoiInvalidArgument):
            fake_osquery.stoi(bad)


def test_osquery_split_drops_empties_then_trims():
    assert fake_osquery.osquery_split("1..7.7", ".") == ["1", "7", "7"]
    assert fake_osquery.osquery_split(" 1 . 7 ", ".") == ["1", "7"]
    assert fake_osquery.osquery_split("1. .7", ".") == ["1", "", "7"]
    assert fake_osquery.osquery_split("", ".") == []


@pytest.mark.parametrize("sdk", ["0.1.0", "1.7.6"])
def test_core_refuses_old_sdk(core, sdk):
    status = core.registerExtension(info(sdk_version=sdk), route("remote_access_tools"))
    assert status.code == 1
    assert status.message == "Incompatible extension SDK version"
    assert core.registrations == {}


@pytest.mark.parametrize("sdk", ["1.7.7", "5.0.0", "0.0.0"])
def test_core_accepts_sdk(core, sdk):
    status = core.registerExtension(info(sdk_version=sdk), route("remote_access_tools"))
    assert status.code == 0, status.message
    assert status.message == "OK"
    assert status.uuid in core.registrations


def test_duplicate_name_is_checked_before_the_sdk(core):
    assert core.registerExtension(info(), route("a")).code == 0
    status = core.registerExtension(info(sdk_version="0.1.0"), route("b"))
    assert (status.code, status.message) == (1, "Duplicate extension registered")


def test_sdk_is_checked_before_table_clashes(core):
    status = core.registerExtension(info(sdk_version="0.1.0"), route("processes"))
    assert (status.code, status.message) == (1, "Incompatible extension SDK version")


def test_table_clash_names_the_table(core):
    status = core.registerExtension(info(), route("zzz_mine", "processes"))
    assert (status.code, status.message) == (1, "Failed adding registry: Duplicate registry item: processes")
    assert core.registerExtension(info("one"), route("shared")).code == 0
    status = core.registerExtension(info("two"), route("shared"))
    assert (status.code, status.message) == (1, "Failed adding registry: Duplicate registry item: shared")
    assert [e["info"]["name"] for e in core.registrations.values()] == ["one"]


def test_unknown_registry_is_refused(core):
    status = core.registerExtension(info(), {"table": {}, "no_such_registry": {}})
    assert (status.code, status.message) == (1, "Failed adding registry: Unknown registry: no_such_registry")


def test_uuids_are_uint16_plus_one_and_unique(core):
    uuids = []
    for i in range(300):
        status = core.registerExtension(info("ext%d" % i), route("t%d" % i))
        assert status.code == 0
        uuids.append(status.uuid)
    assert all(0 <= u <= 0xFFFF for u in uuids)
    assert len(set(uuids)) == len(uuids)


def test_one_failed_ping_removes_the_extension(core, tmp_path):
    assert fake_osquery.PING_TIMEOUT_MS == 10_000
    core.socket_path = str(tmp_path / "osquery.em")  # no extension socket behind it
    core.interval = 0.05
    uuid = core.registerExtension(info(), route("t")).uuid
    threading.Thread(target=core.ping_extensions, daemon=True).start()
    deadline = time.monotonic() + 5
    while uuid in core.registrations and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uuid not in core.registrations
    assert any(e["event"] == "ping_failed" and e["uuid"] == uuid for e in core.events)


def test_preregister_passes_the_sdk_check(tmp_path):
    workdir = str(tmp_path)
    if len(workdir) > 80:  # Unix socket paths are limited to ~108 bytes
        import tempfile
        workdir = tempfile.mkdtemp(prefix="pst")
    c = CoreProcess(workdir, preregister="someone")
    try:
        uuid, ext = wait_for(lambda: c.registered("someone"), timeout=5, what="preregistration")
        assert ext["info"]["sdk_version"] == "0.0.0"
        assert os.path.exists(c.socket)
    finally:
        c.stop()
