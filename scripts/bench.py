#!/usr/bin/env python3
"""Benchmarks a full `remote_access_tools` generate against the cost of
`ps -eo pid,comm,args` plus `dpkg-query -W` on the same host, in one run.

    cargo build --release && scripts/bench.py [--runs 15] [--processes 2000]

(a) synthetic host: `postern query --root SYNTH` over a generated root with
    2,000 processes, 5,000 dpkg packages and 20,000 home files, against
    `dpkg-query --admindir=SYNTH/var/lib/dpkg -W` plus `ps` on this machine
    while 2,000 extra processes are running (ps cannot read a fixture /proc);
(b) live machine: `postern query` on `/` against `ps` plus `dpkg-query -W`,
    with the same 2,000 extra processes running.

Reports median wall time, median CPU (user+sys) and peak RSS per command.
Also measures the idle extension: registered with the fake osquery core,
no queries, CPU ticks and RSS over --idle-seconds.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

DEVNULL_OUT = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mib(cmd):
    """Peak RSS of one run, from GNU time: a process forked from this Python
    would inherit Python's own peak in its rusage."""
    time_bin = "/usr/bin/time"
    if not os.path.exists(time_bin):
        return float("nan")
    out = subprocess.run([time_bin, "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(out.stderr.strip().splitlines()[-1]) / 1024


def measure(cmds, runs):
    """Runs the pipeline of commands `runs` times; returns medians."""
    walls, cpus = [], []
    for _ in range(runs):
        start = time.perf_counter()
        cpu = 0.0
        for cmd in cmds:
            pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=DEVNULL_OUT)
            _, status, usage = os.wait4(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit("command failed: %s" % " ".join(cmd))
            cpu += usage.ru_utime + usage.ru_stime
        walls.append(time.perf_counter() - start)
        cpus.append(cpu)
    rss = max(peak_rss_mib(cmd) for cmd in cmds)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, rss


def row(label, result):
    wall, cpu, rss = result
    return f"| {label} | {wall:.1f} | {cpu:.1f} | {rss:.1f} |"


def idle(binary, seconds):
    sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
    d = tempfile.mkdtemp(prefix="pidle")
    venv_python = os.path.join(REPO, ".venv", "bin", "python")
    python = venv_python if os.path.exists(venv_python) else sys.executable
    socket = os.path.join(d, "osquery.em")
    core = subprocess.Popen([python, os.path.join(REPO, "tests", "e2e", "fake_osquery.py"), "--socket", socket,
                             "--interval", "3"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if core.stdout.readline().strip() != "ready":
        sys.exit("the fake osquery core did not start: run scripts/test once to create .venv")
    ext = subprocess.Popen([binary, "--socket", socket, "--timeout", "5", "--interval", "3"],
                           stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        if ext.poll() is not None:
            sys.exit("the extension exited during the idle measurement")
        tick = os.sysconf("SC_CLK_TCK")

        def cpu_ticks():
            with open(f"/proc/{ext.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])

        before = cpu_ticks()
        time.sleep(seconds)
        used = (cpu_ticks() - before) / tick
        with open(f"/proc/{ext.pid}/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
        return used, rss / 1024
    finally:
        ext.terminate()
        ext.wait()
        core.kill()
        core.wait()
        shutil.rmtree(d, ignore_errors=True)


def schedule_cost(binary, runs, state_dir):
    """CPU share of one core the postern packs' schedule costs on this host:
    each query costs one full generate of its table (measured as a whole
    `postern query` process, start-up included, so an overestimate),
    divided by its interval."""
    import json
    import re
    tables = ["remote_access_tools", "security_control_health", "new_software_since_enrollment"]
    os.environ["POSTERN_STATE_DIR"] = state_dir
    # With a baseline, as on an enrolled host, so new software does its full work.
    subprocess.run([binary, "baseline", "init"], check=True, capture_output=True)
    cost = {t: measure([[binary, "query", t, "--format", "json"]], runs)[1] for t in tables}
    total = 0.0
    packs_dir = os.path.join(REPO, "packs")
    for name in sorted(os.listdir(packs_dir)):
        if not name.startswith("postern-") or "core" in name:
            continue
        with open(os.path.join(packs_dir, name)) as f:
            for q in json.load(f)["queries"].values():
                table = next(t for t in tables if re.search(rf"\b{t}\b", q["query"]))
                total += cost[table] / 1000 / q["interval"]
    return cost, total * 100


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "postern"))
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit("build first: cargo build --release")
    ps = shutil.which("ps")
    dpkg_query = shutil.which("dpkg-query")
    if not ps or not dpkg_query:
        sys.exit("needs ps and dpkg-query")

    # Outside /tmp: the live runs walk /tmp, and must not walk the synthetic host.
    os.makedirs(os.path.join(REPO, "target"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="pbench", dir=os.path.join(REPO, "target"))
    synth = os.path.join(work, "host")
    subprocess.run([sys.executable, os.path.join(REPO, "scripts", "synth_host.py"), synth], check=True)
    sleepers = [subprocess.Popen(["sleep", "3600"]) for _ in range(args.processes)]
    try:
        live_procs = len([p for p in os.listdir("/proc") if p.isdigit()])
        live_pkgs = subprocess.run([dpkg_query, "-W"], capture_output=True, text=True).stdout.count("\n")
        postern_synth = [args.binary, "query", "remote_access_tools", "--root", synth, "--format", "json"]
        postern_live = [args.binary, "query", "remote_access_tools", "--format", "json"]
        baseline_synth = [[ps, "-eo", "pid,comm,args"], [dpkg_query, f"--admindir={synth}/var/lib/dpkg", "-W"]]
        baseline_live = [[ps, "-eo", "pid,comm,args"], [dpkg_query, "-W"]]
        # Warm the page cache for everyone alike.
        for cmds in ([postern_synth], baseline_synth, [postern_live], baseline_live):
            measure(cmds, 1)
        a = measure([postern_synth], args.runs)
        b = measure(baseline_synth, args.runs)
        c = measure([postern_live], args.runs)
        d = measure(baseline_live, args.runs)
        # new_software_since_enrollment against zcat of the dpkg logs plus dpkg-query.
        sh = shutil.which("sh")
        live_policy = os.path.join(work, "policy.json")
        with open(live_policy, "w") as f:
            f.write('{"enrollment": {"time": "2025-06-01T00:00:00Z"}}\n')
        os.chmod(live_policy, 0o644)
        new_synth = [args.binary, "query", "new_software_since_enrollment", "--root", synth, "--format", "json"]
        new_live = [args.binary, "query", "new_software_since_enrollment", "--policy", live_policy, "--format", "json"]
        zcat_synth = [[sh, "-c", f"zcat -f {synth}/var/log/dpkg.log* > /dev/null"], [dpkg_query, f"--admindir={synth}/var/lib/dpkg", "-W"]]
        zcat_live = [[sh, "-c", "zcat -f /var/log/dpkg.log* > /dev/null"], [dpkg_query, "-W"]]
        os.environ["POSTERN_STATE_DIR"] = os.path.join(work, "state")
        for cmds in ([new_synth], zcat_synth, [new_live], zcat_live):
            measure(cmds, 1)
        e = measure([new_synth], args.runs)
        f_ = measure(zcat_synth, args.runs)
        g = measure([new_live], args.runs)
        h = measure(zcat_live, args.runs)
    finally:
        for s in sleepers:
            s.kill()
        for s in sleepers:
            s.wait()
        shutil.rmtree(work, ignore_errors=True)

    print(f"runs per figure: {args.runs} (median); live host: {live_procs} processes, {live_pkgs} dpkg packages")
    print("| command | wall ms | cpu ms | peak RSS MiB |")
    print("|---|---|---|---|")
    print(row("(a) postern query remote_access_tools --root SYNTH", a))
    print(row("(a) ps -eo pid,comm,args + dpkg-query --admindir=SYNTH -W", b))
    print(row("(b) postern query remote_access_tools (live)", c))
    print(row("(b) ps -eo pid,comm,args + dpkg-query -W (live)", d))
    print(f"ratio (a) wall {a[0] / b[0]:.2f}, cpu {a[1] / b[1]:.2f}; (b) wall {c[0] / d[0]:.2f}, cpu {c[1] / d[1]:.2f}")
    print("| command | wall ms | cpu ms | peak RSS MiB |")
    print("|---|---|---|---|")
    print(row("(c) postern query new_software_since_enrollment --root SYNTH", e))
    print(row("(c) zcat -f SYNTH/var/log/dpkg.log* + dpkg-query --admindir=SYNTH -W", f_))
    print(row("(d) postern query new_software_since_enrollment (live)", g))
    print(row("(d) zcat -f /var/log/dpkg.log* + dpkg-query -W (live)", h))
    print(f"ratio (c) wall {e[0] / f_[0]:.2f}, cpu {e[1] / f_[1]:.2f}; (d) wall {g[0] / h[0]:.2f}, cpu {g[1] / h[1]:.2f}")
    sched_dir = tempfile.mkdtemp(prefix="psched", dir=os.path.join(REPO, "target"))
    try:
        cost, share = schedule_cost(args.binary, args.runs, os.path.join(sched_dir, "state"))
    finally:
        shutil.rmtree(sched_dir, ignore_errors=True)
    print("schedule: cpu ms per generate " + ", ".join(f"{t} {c:.1f}" for t, c in cost.items())
          + f"; the postern packs cost {share:.3f} % of one core on average")
    used, rss = idle(args.binary, args.idle_seconds)
    print(f"idle extension over {args.idle_seconds:.0f} s: {used * 1000:.0f} ms CPU "
          f"({used / args.idle_seconds * 100:.3f} % of one core), RSS {rss:.1f} MiB")


if __name__ == "__main__":
    main()
