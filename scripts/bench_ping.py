#!/usr/bin/env python3
"""Ping latency under load, and the idle footprint, of postern in osquery mode.

    .venv/bin/python scripts/bench_ping.py [--seconds 20] [--clients 16] [--bin PATH]
    .venv/bin/python scripts/bench_ping.py --idle 60 [--bin PATH]

Builds nothing: it runs target/release/postern (or --bin PATH) against the
stand-in osquery core (tests/e2e/fake_osquery.py) in a temporary directory
(POSTERN_STATE_DIR inside it), both speaking osquery's Thrift protocol.

Load mode: --clients callers follow osquery's pattern (a ping on a new
connection, then the call on another new connection) on the three real
tables, while one pinger pings every 50 ms on new connections, as osquery's
watcher would. Prints a Markdown table: pings, failed pings, p50/p99/max ping
latency, calls done, calls refused busy, other call errors, postern's peak
VmHWM and final VmRSS.

Idle mode (--idle S): registers postern, makes no calls for S seconds (the
core still pings it every --interval) and reports the CPU time postern used
in that window (utime+stime from /proc/PID/stat) and its VmRSS.

Uses the repository's .venv (the osquery SDK and thrift from
tests/e2e/requirements.txt).
"""

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_OSQUERY = os.path.join(REPO, "tests", "e2e", "fake_osquery.py")
TABLES = ["remote_access_tools", "security_control_health", "new_software_since_enrollment"]
PING_TIMEOUT_MS = 10_000  # osquery pings with a 10 s timeout
CALL_TIMEOUT_MS = 300_000  # osquery's --thrift_timeout default
PINGER_PERIOD = 0.05
# Set on the way out (the run is over, or interrupted): client threads stop.
STOP = threading.Event()

sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

try:
    from harness import proc_status
    from osquery.extensions import Extension
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport
except ImportError:
    sys.exit("bench_ping.py needs the osquery SDK: run it with .venv/bin/python "
             "(python3 -m venv .venv && .venv/bin/pip install -r tests/e2e/requirements.txt)")


def connect(path, timeout_ms):
    sock = TSocket.TSocket(unix_socket=path)
    sock.setTimeout(timeout_ms)
    transport = TTransport.TBufferedTransport(sock)
    transport.open()
    return Extension.Client(TBinaryProtocol.TBinaryProtocol(transport)), transport


def ping(path):
    """(ok, seconds): one ping on a new connection."""
    started = time.monotonic()
    try:
        c, transport = connect(path, PING_TIMEOUT_MS)
        try:
            ok = c.ping().code == 0
        finally:
            transport.close()
    except Exception:
        ok = False
    return ok, time.monotonic() - started


def call(path, table):
    """'ok', 'busy' or an error description: one generate on a new connection."""
    ctx = json.dumps({"constraints": [], "colsUsed": [], "colsUsedBitset": 0})
    try:
        c, transport = connect(path, CALL_TIMEOUT_MS)
        try:
            resp = c.call("table", table, {"action": "generate", "context": ctx})
        finally:
            transport.close()
    except Exception as e:
        return "transport error: %r" % e
    if resp.status.code == 0:
        return "ok"
    if resp.status.code == 1 and "busy" in (resp.status.message or ""):
        return "busy"
    return "status %d: %s" % (resp.status.code, resp.status.message)




def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def mib(n):
    return n / float(1 << 20)


class Children:
    """The fake core and postern in a temporary directory; stopped in stop()."""

    def __init__(self, binary, interval):
        self.dir = tempfile.mkdtemp(prefix="pstbench")
        self.socket = os.path.join(self.dir, "osquery.em")
        self.state = os.path.join(self.dir, "core-state.json")
        self.core = self.ext = None
        self.logs = []
        self.binary, self.interval = binary, interval

    def start(self, timeout=20.0):
        core_log = open(os.path.join(self.dir, "core.log"), "w")
        self.logs.append(core_log)
        self.core = subprocess.Popen(
            [sys.executable, FAKE_OSQUERY, "--socket", self.socket, "--state", self.state,
             "--interval", str(self.interval)],
            stdout=subprocess.PIPE, stderr=core_log, text=True)
        ready = {}
        reader = threading.Thread(target=lambda: ready.setdefault("line", self.core.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if ready.get("line", "").strip() != "ready":
            raise RuntimeError("the fake osquery core did not start (see %s)" % core_log.name)
        ext_log = open(os.path.join(self.dir, "postern.log"), "w")
        self.logs.append(ext_log)
        env = dict(os.environ, POSTERN_STATE_DIR=os.path.join(self.dir, "state"))
        self.ext = subprocess.Popen(
            [self.binary, "--socket", self.socket, "--timeout", "10", "--interval", str(self.interval)],
            stdout=ext_log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ext.poll() is not None:
                raise RuntimeError("postern exited with %d: %s" % (self.ext.returncode, self.tail()))
            uuid = self.registered()
            if uuid is not None:
                path = "%s.%d" % (self.socket, uuid)
                if os.path.exists(path):
                    return path
            time.sleep(0.05)
        raise RuntimeError("postern did not register within %.0f s: %s" % (timeout, self.tail()))

    def core_state(self):
        try:
            with open(self.state) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"extensions": {}, "events": []}

    def registered(self):
        for uuid, ext in self.core_state()["extensions"].items():
            if ext["info"]["name"] == "postern":
                return int(uuid)
        return None

    def ping_failures(self):
        return sum(1 for e in self.core_state()["events"] if e["event"] == "ping_failed")

    def tail(self):
        try:
            with open(os.path.join(self.dir, "postern.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        for proc in (self.ext, self.core):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self.core is not None and self.core.stdout:
            self.core.stdout.close()
        for f in self.logs:
            f.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_load(children, path, seconds, clients):
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    pinger_lat, all_lat = [], []
    counts = {"ping_fail": 0, "ok": 0, "busy": 0, "error": 0}
    errors = []

    def record_ping(ok, took, from_pinger):
        with lock:
            all_lat.append(took)
            if from_pinger:
                pinger_lat.append(took)
            if not ok:
                counts["ping_fail"] += 1

    def caller(n):
        i = n
        while time.monotonic() < stop_at and not STOP.is_set():
            record_ping(*ping(path), from_pinger=False)
            outcome = call(path, TABLES[i % len(TABLES)])
            i += 1
            with lock:
                if outcome in ("ok", "busy"):
                    counts[outcome] += 1
                else:
                    counts["error"] += 1
                    if len(errors) < 5:
                        errors.append(outcome)

    def pinger():
        while time.monotonic() < stop_at and not STOP.is_set():
            record_ping(*ping(path), from_pinger=True)
            STOP.wait(PINGER_PERIOD)

    threads = [threading.Thread(target=caller, args=(n,), daemon=True) for n in range(clients)]
    threads.append(threading.Thread(target=pinger, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        # A call can take up to osquery's thrift timeout; give up well before.
        t.join(timeout=max(0.0, stop_at - time.monotonic()) + 60)
    stuck = sum(1 for t in threads if t.is_alive())
    STOP.set()

    alive = children.ext.poll() is None
    status = proc_status(children.ext.pid) if alive else {}
    rows = [
        ("postern", shown(children.binary)),
        ("duration", "%.0f s, %d callers + 1 pinger every %d ms" % (seconds, clients, PINGER_PERIOD * 1000)),
        ("pings (all / pinger)", "%d / %d" % (len(all_lat), len(pinger_lat))),
        ("failed pings", str(counts["ping_fail"])),
        ("ping p50 / p99 / max, pinger (ms)", "%.1f / %.1f / %.1f" % (
            1000 * percentile(pinger_lat, 50), 1000 * percentile(pinger_lat, 99), 1000 * max(pinger_lat or [0]))),
        ("ping p50 / p99 / max, all (ms)", "%.1f / %.1f / %.1f" % (
            1000 * percentile(all_lat, 50), 1000 * percentile(all_lat, 99), 1000 * max(all_lat or [0]))),
        ("calls done (status 0)", str(counts["ok"])),
        ("calls refused busy", str(counts["busy"])),
        ("calls failed otherwise", str(counts["error"])),
        ("peak VmHWM (MiB)", "%.1f" % mib(status["VmHWM"]) if status else "postern exited"),
        ("final VmRSS (MiB)", "%.1f" % mib(status["VmRSS"]) if status else "postern exited"),
        ("still registered / ping_failed events", "%s / %d" % (
            "yes" if children.registered() is not None else "NO", children.ping_failures())),
    ]
    if stuck:
        rows.append(("client threads still stuck", str(stuck)))
    print_table(rows)
    for e in errors:
        print("- call error: %s" % e)
    return counts["ping_fail"] == 0 and counts["error"] == 0 and alive and not stuck


def run_idle(children, seconds):
    pid = children.ext.pid
    time.sleep(1.0)  # let start-up work (the first baseline) settle
    before = cpu_ms(pid)
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if children.ext.poll() is not None:
            print("postern exited during the idle window: %s" % children.tail())
            return False
        STOP.wait(max(0.0, min(1.0, seconds - (time.monotonic() - started))))
    used = cpu_ms(pid) - before
    took = time.monotonic() - started
    status = proc_status(pid)
    print_table([
        ("postern", shown(children.binary)),
        ("idle window", "%.0f s (core pings every %s s)" % (took, children.interval)),
        ("CPU used in the window (utime+stime, ms)", "%.0f" % used),
        ("CPU share", "%.3f %% of one core" % (100.0 * used / 1000.0 / took)),
        ("CPU since start (ms)", "%.0f" % cpu_ms(pid)),
        ("VmRSS (MiB)", "%.1f" % mib(status["VmRSS"])),
        ("VmHWM (MiB)", "%.1f" % mib(status["VmHWM"])),
        ("threads", str(sum(1 for _ in os.listdir("/proc/%d/task" % pid)))),
        ("still registered / ping_failed events", "%s / %d" % (
            "yes" if children.registered() is not None else "NO", children.ping_failures())),
    ])
    return True


def shown(binary):
    return os.path.relpath(binary, REPO) if binary.startswith(REPO + os.sep) else binary


def print_table(rows):
    print()
    print("| measure | value |")
    print("|---|---|")
    for k, v in rows:
        print("| %s | %s |" % (k, v))
    print()
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=os.path.join(REPO, "target", "release", "postern"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--interval", type=float, default=3.0,
                        help="osquery's --extensions_interval for the core's pings and postern's checks (3 s)")
    parser.add_argument("--idle", type=float, metavar="SECONDS",
                        help="measure the idle footprint over SECONDS instead of the load")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    if not os.access(binary, os.X_OK):
        sys.exit("no postern binary at %s: cargo build --release --bin postern, or pass --bin PATH" % binary)

    # Thrift logs every failed connect; the table says what failed.
    logging.getLogger("thrift").setLevel(logging.CRITICAL)
    children = Children(binary, args.interval)
    ok = False
    try:
        path = children.start()
        if args.idle is not None:
            ok = run_idle(children, args.idle)
        else:
            ok = run_load(children, path, args.seconds, args.clients)
    except KeyboardInterrupt:
        print("interrupted")
    except RuntimeError as e:
        print("bench_ping: %s" % e, file=sys.stderr)
    finally:
        STOP.set()
        children.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
