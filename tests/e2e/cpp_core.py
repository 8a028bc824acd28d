"""Harness for the C++ osquery peer (tests/osquery_peer/core.cpp): a strict
stand-in for osqueryd on the Thrift stack osqueryd links, with the same
interface as harness.Core plus calls made the way osquery makes them (a new
connection with a ping first, then the call on another new connection)."""

import functools
import json
import os
import select
import subprocess

import pytest

from harness import REPO, CoreState, wait_for

BUILD = os.path.join(REPO, "tests", "osquery_peer", "build.sh")


@functools.lru_cache(maxsize=None)
def peer_bin():
    """Path of the peer, built (or found up to date) once per session."""
    try:
        out = subprocess.run([BUILD], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.fail("building the C++ osquery peer took more than 600 s")
    if out.returncode != 0:
        pytest.fail("building the C++ osquery peer failed:\n" + out.stderr)
    return out.stdout.strip().splitlines()[-1]


def run_peer(args, timeout):
    """Runs a client subcommand of the peer and returns its JSON output,
    with the exit code under "exit"."""
    try:
        out = subprocess.run([peer_bin(), *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError("osquery_core %s did not finish within %s s" % (args[0], timeout))
    try:
        result = json.loads(out.stdout)
    except ValueError:
        raise AssertionError("osquery_core %s printed no JSON (exit %d): %r %r"
                             % (args[0], out.returncode, out.stdout, out.stderr))
    result["exit"] = out.returncode
    return result


class CppCore(CoreState):
    """A running C++ osquery peer serving the extension manager in workdir."""

    def __init__(self, workdir, interval=1.0, preregister=None, ping_timeout=10.0,
                 extensions_timeout=3.0, extensions_autoload=None):
        self.socket = os.path.join(workdir, "osquery.em")
        self.state_path = os.path.join(workdir, "core-state.json")
        self.log_path = os.path.join(workdir, "core.log")
        args = [peer_bin(), "serve", "--socket", self.socket, "--state", self.state_path,
                "--interval", str(interval), "--ping-timeout", str(ping_timeout),
                "--extensions-timeout", str(extensions_timeout)]
        if preregister:
            args += ["--preregister", preregister]
        if extensions_autoload:
            args += ["--extensions-autoload", extensions_autoload]
        # Its log goes to a file: a pipe nobody reads could fill up and stall it.
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            self.stop()
            raise AssertionError("C++ osquery peer did not start: " + self.log())
        wait_for(lambda: os.path.exists(self.socket), what="manager socket")

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()

    # --- osquery's side of a query: callExtension ---
    def call(self, uuid, table, request, timeout=30):
        """A table call as osquery makes it; returns {"status": {"code",
        "message"}, "response": [...]} or {"error": ...}, with "exit"."""
        args = ["call", "--socket", self.socket, "--uuid", str(uuid), "--registry", "table",
                "--item", table, "--timeout", str(timeout)]
        for key, value in request.items():
            args += ["--request", "%s=%s" % (key, value)]
        return run_peer(args, timeout + 15)

    def generate(self, uuid, table, constraints=None, timeout=30):
        context = {"constraints": constraints or [], "colsUsed": [], "colsUsedBitset": 0}
        return self.call(uuid, table, {"action": "generate", "context": json.dumps(context)},
                         timeout=timeout)

    # --- the peer's own rules ---
    def register(self, name, sdk_version, version="1.0", tables=(), plugins=()):
        """Registers a fake extension; returns {"code", "message", "uuid"}."""
        args = ["register", "--socket", self.socket, "--name", name, "--version", version,
                "--sdk-version", sdk_version]
        for table in tables:
            args += ["--table", table]
        for plugin in plugins:
            args += ["--plugin", plugin]
        return run_peer(args, 20)

    def ping(self, path):
        return run_peer(["ping", "--socket", path], 20)
