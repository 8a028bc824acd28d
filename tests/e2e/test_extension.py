"""End-to-end: the built binary in osquery mode, driven through osquery's
Thrift protocol by a fake osquery core."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from harness import Core, Ext, call, cargo_version, client, eq, generate, postern_bin, wait_for


def schema():
    out = subprocess.run([postern_bin(), "tables", "--format", "json"], check=True, capture_output=True, text=True)
    return {t["name"]: t for t in json.loads(out.stdout)}


def test_registers_with_name_version_and_routes(core, registered):
    _, uuid, _ = registered
    _, ext = core.registered()
    assert ext["info"]["version"] == cargo_version()
    tables = ext["registry"]["table"]
    assert "remote_access_tools" in tables and "postern_selftest" in tables
    expected = schema()["remote_access_tools"]["columns"]
    routes = tables["remote_access_tools"]
    assert [r["name"] for r in routes] == [c["name"] for c in expected]
    assert [r["type"] for r in routes] == [c["type"] for c in expected]
    assert all(r["id"] == "column" and r["op"] == "0" for r in routes)
    types = {r["name"]: r["type"] for r in routes}
    assert types["pid"] == "BIGINT" and types["path"] == "TEXT" and types["approved"] == "INTEGER"


def test_columns_action_and_unknown_calls(registered):
    _, _, path = registered
    resp = call(path, "remote_access_tools", {"action": "columns"})
    assert resp.status.code == 0
    assert resp.response[0]["name"] == "tool_id"
    assert call(path, "no_such_table", {"action": "generate", "context": "{}"}).status.code == 1
    assert call(path, "remote_access_tools", {"action": "insert"}).status.code == 1
    c, t = client(path)
    try:
        assert c.call("config", "x", {}).status.code == 1
        assert c.ping().code == 0
    finally:
        t.close()


def test_generate_without_constraints(registered):
    _, _, path = registered
    resp = generate(path, "remote_access_tools")
    assert resp.status.code == 0, resp.status.message
    for row in resp.response:
        if "tool_id" not in row:
            # A row about the host (NULL tool_id): a search cut short (the
            # executables of a build tree under /tmp, say) or a hidden process.
            assert row["evidence_type"] in ("scan_incomplete", "hidden_process"), row
            continue
        assert row["tool_id"] and row["evidence_type"] and row["approved"] in ("0", "1")


def test_live_process_is_found_with_pid_constraint(registered, workdir):
    """A harmless program copied under a catalog name is reported with its pid."""
    _, _, path = registered
    fake = os.path.join(workdir, "anydesk")
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([fake, "30"])
    try:
        resp = generate(path, "remote_access_tools", [eq("pid", proc.pid, "BIGINT")])
        assert resp.status.code == 0, resp.status.message
        rows = [r for r in resp.response if r.get("evidence_type") == "process"]
        assert len(rows) == 1, resp.response
        assert rows[0]["tool_id"] == "anydesk"
        assert rows[0]["pid"] == str(proc.pid)
        assert rows[0]["path"] == fake
        assert rows[0]["approved"] == "0"
        # Without constraints the same process is among the rows.
        resp = generate(path, "remote_access_tools", [eq("evidence_type", "process")])
        assert any(r.get("pid") == str(proc.pid) for r in resp.response)
    finally:
        proc.kill()
        proc.wait()


def test_garbage_context_is_an_error_status(registered):
    _, _, path = registered
    for context in ["{", "[]", '{"constraints":"x"}', '{"constraints":[{"name":"pid","list":[{"op":"x"}]}]}']:
        resp = call(path, "remote_access_tools", {"action": "generate", "context": context})
        assert resp.status.code == 1
        assert "malformed query context" in resp.status.message
    # Old-format context (list as a string) is accepted.
    old = json.dumps({"constraints": [{"name": "pid", "list": json.dumps([{"op": "2", "expr": "1"}]), "affinity": "BIGINT"}]})
    assert call(path, "remote_access_tools", {"action": "generate", "context": old}).status.code == 0


def test_panic_becomes_error_status_and_process_survives(registered):
    ext, _, path = registered
    resp = generate(path, "postern_selftest", [eq("action", "panic")])
    assert resp.status.code == 1
    assert "internal error" in resp.status.message and "panic" in resp.status.message
    assert ext.proc.poll() is None
    ok = generate(path, "postern_selftest", [eq("action", "echo")])
    assert ok.status.code == 0 and ok.response == [{"action": "echo", "ms": "1000"}]


def test_deadline_bounds_a_call_and_the_cap_refuses_pile_ups(registered):
    ext, _, path = registered
    sleep = [eq("action", "sleep"), eq("ms", 8000, "BIGINT")]
    started = time.monotonic()
    resp = generate(path, "postern_selftest", sleep)
    assert resp.status.code == 1 and "did not finish within 2 s" in resp.status.message
    assert time.monotonic() - started < 4.5
    assert ext.proc.poll() is None
    # The abandoned worker still sleeps and holds its slot; a second overrun
    # takes the other one, so a third call waits its queue time (1 s here)
    # and is then refused with a busy status instead of piling up.
    assert generate(path, "postern_selftest", sleep).status.code == 1
    started = time.monotonic()
    busy = generate(path, "postern_selftest", [eq("action", "echo")])
    assert busy.status.code == 1 and "busy: already answering 2 queries" in busy.status.message
    assert time.monotonic() - started >= 0.9
    # Once the workers finish, calls are served again.
    wait_for(lambda: generate(path, "postern_selftest", [eq("action", "echo")]).status.code == 0,
             timeout=15, what="slots to free up")


def test_a_call_waits_for_a_free_slot_instead_of_failing(core, start_ext):
    """Two long calls hold both slots; a third queues and is answered once one ends."""
    import threading
    ext = start_ext(env={"POSTERN_SELFTEST": "1", "POSTERN_QUEUE_WAIT_SECS": "10"})
    uuid, _ = wait_for(core.registered, what="registration")
    path = "%s.%d" % (core.socket, uuid)
    wait_for(lambda: os.path.exists(path), what="extension socket")
    sleep = [eq("action", "sleep"), eq("ms", 1500, "BIGINT")]
    results = []
    threads = [threading.Thread(target=lambda: results.append(generate(path, "postern_selftest", sleep)))
               for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    third = generate(path, "postern_selftest", [eq("action", "echo")])
    for t in threads:
        t.join(timeout=10)
    assert third.status.code == 0, third.status.message
    assert [r.status.code for r in results] == [0, 0]
    assert ext.proc.poll() is None


def test_sigterm_deregisters_and_removes_socket(core, registered):
    ext, uuid, path = registered
    ext.proc.send_signal(signal.SIGTERM)
    code, err = ext.wait()
    assert code == 0, err
    assert not os.path.exists(path)
    events = core.state()["events"]
    assert {"event": "deregistered", "uuid": uuid, "known": True} in events


def test_shutdown_call_exits_cleanly(registered):
    ext, _, path = registered
    c, t = client(path)
    c.shutdown()
    t.close()
    code, err = ext.wait()
    assert code == 0, err
    assert not os.path.exists(path)


def test_exits_when_osquery_goes_away(core, registered):
    ext, _, path = registered
    core.go_away()
    code, err = ext.wait(timeout=20)
    assert code != 0
    assert "osquery went away" in err
    assert not os.path.exists(path)


def test_exits_when_deregistered(core, registered):
    ext, _, _ = registered
    core.forget_all()
    code, err = ext.wait(timeout=20)
    assert code != 0
    assert "deregistered" in err


def test_refused_registration_exits_with_reason(workdir):
    c = Core(workdir, preregister="postern")
    try:
        ext = Ext(c.socket)
        code, err = ext.wait()
        assert code == 1
        assert "osquery refused the registration: Duplicate extension registered" in err
        assert "postern: " in err.strip().splitlines()[-1]
    finally:
        c.stop()


def test_waits_for_a_late_socket(workdir):
    socket = os.path.join(workdir, "osquery.em")
    ext = Ext(socket, timeout=10)
    try:
        time.sleep(1.0)
        assert ext.proc.poll() is None, "exited before the socket appeared"
        c = Core(workdir)
        try:
            wait_for(c.registered, what="late registration")
        finally:
            ext.proc.send_signal(signal.SIGTERM)
            assert ext.wait()[0] == 0
            c.stop()
    finally:
        ext.stop()


def test_gives_up_when_no_socket(workdir):
    ext = Ext(os.path.join(workdir, "missing.em"), timeout=1)
    code, err = ext.wait()
    assert code == 1
    assert "did not accept connections within 1.0 s" in err


def test_unknown_flags_do_not_exit(core, start_ext):
    ext = start_ext(extra=("--some-future-flag", "value", "--another"))
    wait_for(core.registered, what="registration with unknown flags")
    assert ext.proc.poll() is None


def test_security_control_health_through_thrift(registered):
    _, _, path = registered
    resp = generate(path, "security_control_health")
    assert resp.status.code == 0, resp.status.message
    controls = {r["control"] for r in resp.response}
    assert {"edr", "disk_encryption", "firewall", "auto_updates", "postern_policy"} <= controls
    for row in resp.response:
        assert row["status"] in ("pass", "fail", "degraded", "unknown", "not_applicable")
        assert int(row["checked_at"]) > 1_700_000_000
        assert row["evidence"]
        if row["status"] in ("pass", "not_applicable"):
            assert "remediation" not in row
        else:
            assert row["remediation"].endswith(".")
    one = generate(path, "security_control_health", [eq("control", "firewall")])
    assert one.status.code == 0
    assert [r["control"] for r in one.response] == ["firewall"]


def test_first_run_records_the_baseline_then_new_software_shows(registered, workdir):
    _, _, path = registered
    baseline = os.path.join(workdir, "state", "baseline.json")
    wait_for(lambda: os.path.exists(baseline), timeout=30, what="baseline recorded on first run")
    assert os.stat(baseline).st_mode & 0o777 == 0o600
    health = generate(path, "security_control_health", [eq("control", "postern_baseline")])
    assert health.status.code == 0
    assert health.response[0]["status"] == "pass", health.response
    # Software that arrives after enrollment: a portable AnyDesk in /tmp.
    fake = os.path.join(workdir, "anydesk")
    shutil.copy("/bin/true", fake)
    resp = generate(path, "new_software_since_enrollment", [eq("source", "portable")])
    assert resp.status.code == 0, resp.status.message
    rows = [r for r in resp.response if r.get("path") == fake]
    assert len(rows) == 1, resp.response
    row = rows[0]
    assert row["in_baseline"] == "0" and row["remote_access_tool"] == "anydesk"
    assert row["enrollment_source"] == "baseline"
    assert len(row["sha256"]) == 64


def test_a_table_stuck_past_its_deadline_makes_postern_exit_for_a_relaunch(core, start_ext):
    """The worst case (a worker that never returns) recovers on its own:
    past the stuck grace, postern exits non-zero so osquery relaunches it."""
    ext = start_ext(env={"POSTERN_SELFTEST": "1", "POSTERN_TABLE_DEADLINE_SECS": "1",
                         "POSTERN_STUCK_GRACE_SECS": "2"})
    uuid, _ = wait_for(core.registered, what="registration")
    path = "%s.%d" % (core.socket, uuid)
    wait_for(lambda: os.path.exists(path), what="extension socket")
    resp = generate(path, "postern_selftest", [eq("action", "sleep"), eq("ms", 600000, "BIGINT")])
    assert resp.status.code == 1 and "did not finish within 1 s" in resp.status.message
    code, err = ext.wait(timeout=20)
    assert code != 0
    assert "exiting so that osquery relaunches postern" in err, err
