"""End-to-end: the built binary in osquery mode against the C++ osquery peer
(tests/osquery_peer), which applies osqueryd's registration rules, watches
extensions as osqueryd does (one failed ping unregisters) and calls tables
as osqueryd does (a new connection with a ping first, then the call)."""

import os
import signal
import threading
import time

import pytest

from cpp_core import CppCore
from harness import Ext, cargo_version, eq, wait_for

SELFTEST_ENV = {"POSTERN_SELFTEST": "1", "POSTERN_TABLE_DEADLINE_SECS": "2"}


def numeric_version(text):
    return tuple(int(part) for part in text.split("."))


@pytest.fixture
def peer(workdir):
    c = CppCore(workdir, interval=0.5)
    yield c
    c.stop()


@pytest.fixture
def start_postern(peer):
    started = []

    def start(env=SELFTEST_ENV, **kwargs):
        e = Ext(peer.socket, env=env, **kwargs)
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()


@pytest.fixture
def postern(peer, start_postern):
    """postern registered with the peer; returns (ext, uuid)."""
    ext = start_postern()
    uuid, _ = wait_for(peer.registered, what="registration with the C++ peer")
    wait_for(lambda: os.path.exists("%s.%d" % (peer.socket, uuid)), what="extension socket")
    return ext, uuid


def test_peer_applies_osquery_registration_rules(workdir):
    # A long interval: the fake extensions have no socket for the watcher.
    c = CppCore(workdir, interval=60)
    try:
        for sdk in ("0.1.0", "1.7.6"):
            r = c.register("old-" + sdk, sdk)
            assert (r["code"], r["message"]) == (1, "Incompatible extension SDK version"), r
        uuids = set()
        for sdk in ("1.7.7", "5.0.0", "0.0.0"):
            r = c.register("ok-" + sdk, sdk)
            assert (r["code"], r["message"]) == (0, "OK"), r
            assert 0 < r["uuid"] <= 65535
            uuids.add(r["uuid"])
        assert len(uuids) == 3
        # The name is checked before the SDK version, as osquery does.
        r = c.register("ok-5.0.0", "0.1.0")
        assert (r["code"], r["message"]) == (1, "Duplicate extension registered"), r
        r = c.register("core-clash", "5.0.0", tables=["mine", "processes"])
        assert r["code"] == 1 and r["message"] == "Failed adding registry: Duplicate registry item: processes"
        assert c.register("first", "5.0.0", tables=["shared_table"])["code"] == 0
        r = c.register("second", "5.0.0", tables=["shared_table"])
        assert r["code"] == 1 and "shared_table" in r["message"], r
        r = c.register("odd", "5.0.0", plugins=["no_such_registry:x"])
        assert r == {"code": 1, "message": "Failed adding registry: Unknown registry: no_such_registry",
                     "uuid": 0, "exit": 0}
        assert c.register("logs", "5.0.0", plugins=["logger:mine"])["code"] == 0
        refused = c.events("refused")
        assert len(refused) == 6 and {e["name"] for e in refused} >= {"old-0.1.0", "core-clash"}
    finally:
        c.stop()


def test_postern_is_accepted_and_a_second_one_refused(peer, postern, start_postern):
    _, uuid = postern
    _, ext = peer.registered()
    assert ext["info"]["version"] == cargo_version()
    assert numeric_version(ext["info"]["sdk_version"]) >= (1, 7, 7)
    assert "remote_access_tools" in ext["registry"]["table"]
    second = start_postern()
    code, err = second.wait()
    assert code == 1
    assert "Duplicate extension registered" in err
    assert peer.registered()[0] == uuid


def test_tables_answer_osquery_calls(peer, postern):
    _, uuid = postern
    for table in ("remote_access_tools", "security_control_health", "new_software_since_enrollment",
                  "laptop_farm_signals"):
        r = peer.generate(uuid, table)
        assert r["exit"] == 0 and r["status"]["code"] == 0, (table, r)
    r = peer.generate(uuid, "postern_selftest", [eq("action", "echo")])
    assert r["status"]["code"] == 0, r
    assert r["response"] == [{"action": "echo", "ms": "1000"}]


def test_watcher_keeps_postern_registered_under_concurrent_calls(peer, postern):
    ext, uuid = postern
    requests = [
        ("postern_selftest", [eq("action", "echo")]),
        ("postern_selftest", [eq("action", "sleep"), eq("ms", 1500, "BIGINT")]),
        ("remote_access_tools", None),
        ("security_control_health", None),
    ]
    results = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 4.0  # the watcher pings every 0.5 s

    def worker(table, constraints):
        while time.monotonic() < stop_at:
            r = peer.generate(uuid, table, constraints, timeout=20)
            with lock:
                results.append((table, r))

    threads = [threading.Thread(target=worker, args=request) for request in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a caller did not finish"

    failed = [e for e in peer.state()["events"] if e["event"] == "ping_failed"]
    assert not failed, failed
    registered = peer.registered()
    assert registered is not None and registered[0] == uuid, peer.state()["events"]
    assert registered[1]["pings"] >= 5
    assert ext.proc.poll() is None
    assert len(results) >= 8
    for table, r in results:
        # Every call gets a reply: success, or an error status with a reason.
        assert "error" not in r, (table, r)
        status = r["status"]
        assert status["code"] == 0 or (status["code"] == 1 and status["message"]), (table, r)


def test_forgotten_postern_exits(peer, postern):
    ext, _ = postern
    peer.forget_all()
    code, err = ext.wait(timeout=20)
    assert code != 0
    assert "deregistered" in err


def test_postern_exits_when_the_peer_goes_away(peer, postern):
    ext, uuid = postern
    peer.go_away()
    code, err = ext.wait(timeout=20)
    assert code != 0
    assert "osquery went away" in err
    assert not os.path.exists("%s.%d" % (peer.socket, uuid))


def test_sigterm_deregisters_from_the_peer(peer, postern):
    ext, uuid = postern
    ext.proc.send_signal(signal.SIGTERM)
    code, err = ext.wait()
    assert code == 0, err
    assert {"event": "deregistered", "uuid": uuid, "known": True} in peer.state()["events"]
    assert peer.registered() is None
