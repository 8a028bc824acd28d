"""Harness: the built postern binary in osquery mode against fake_osquery.py,
both speaking osquery's Thrift protocol over Unix sockets."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from osquery.extensions import Extension
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket, TTransport

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def postern_bin():
    path = os.environ.get("POSTERN_BIN") or os.path.join(REPO, "target", "debug", "postern")
    if not os.path.exists(path):
        pytest.fail("postern binary not found at %s: build it first (cargo build)" % path)
    return path


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def proc_status(pid):
    """The memory lines of /proc/PID/status, in bytes (VmRSS, VmHWM, ...)."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                out[key] = int(value.split()[0]) * 1024
    return out


def cargo_version():
    """postern's version, as extension/Cargo.toml states it."""
    with open(os.path.join(REPO, "extension", "Cargo.toml")) as f:
        for line in f:
            if line.startswith("version"):
                return line.split('"')[1]
    raise AssertionError("no version in Cargo.toml")


class CoreState:
    """What a stand-in core writes to its state file (`state_path`): the
    registrations and the events, shared by both stand-ins."""

    state_path = None

    def state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"extensions": {}, "events": []}

    def registered(self, name="postern"):
        for uuid, ext in self.state()["extensions"].items():
            if ext["info"]["name"] == name:
                return int(uuid), ext
        return None

    def events(self, kind):
        return [e for e in self.state()["events"] if e["event"] == kind]

    # Both stand-ins run as self.proc and take the same signals.
    def forget_all(self):
        """osquery drops every extension (SIGUSR1)."""
        self.proc.send_signal(signal.SIGUSR1)

    def go_away(self):
        """osquery goes away (SIGTERM)."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


class Core(CoreState):
    """A running fake osquery core."""

    def __init__(self, workdir, interval=1.0, preregister=None):
        self.socket = os.path.join(workdir, "osquery.em")
        self.state_path = os.path.join(workdir, "core-state.json")
        args = [sys.executable, os.path.join(HERE, "fake_osquery.py"), "--socket", self.socket,
                "--state", self.state_path, "--interval", str(interval)]
        if preregister:
            args += ["--preregister", preregister]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", "fake osquery did not start: " + self.proc.stderr.read()
        wait_for(lambda: os.path.exists(self.socket), what="manager socket")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class Ext:
    """The postern binary launched the way osqueryd launches extensions."""

    def __init__(self, socket, env=None, interval=1, timeout=5, extra=()):
        full_env = dict(os.environ)
        # Keep the enrollment baseline the first run records out of /var/lib.
        full_env.setdefault("POSTERN_STATE_DIR", os.path.join(os.path.dirname(socket), "state"))
        full_env.update(env or {})
        self.socket = socket
        self.proc = subprocess.Popen(
            [postern_bin(), "--verbose", "--socket", socket, "--timeout", str(timeout),
             "--interval", str(interval), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
        )

    def wait(self, timeout=15):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, err

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def client(path):
    """A Thrift client to the extension's socket, as osqueryd opens per call."""
    transport = TTransport.TBufferedTransport(TSocket.TSocket(unix_socket=path))
    transport.open()
    return Extension.Client(TBinaryProtocol.TBinaryProtocol(transport)), transport


def call(path, table, request):
    c, transport = client(path)
    try:
        return c.call("table", table, request)
    finally:
        transport.close()


def generate(path, table, constraints=None):
    context = {"constraints": constraints or [], "colsUsed": [], "colsUsedBitset": 0}
    return call(path, table, {"action": "generate", "context": json.dumps(context)})


def eq(name, value, affinity="TEXT"):
    return {"name": name, "list": [{"op": 2, "expr": str(value)}], "affinity": affinity}
