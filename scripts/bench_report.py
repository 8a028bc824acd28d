#!/usr/bin/env python3
"""Benchmark of `postern report` on a large generated log, against a jq
pipeline and DuckDB computing the same time-to-resolve figures.

    scripts/bench_report.py [--gb 1.0] [--runs 3] [--dir target/bench-report] [--skip-jq]

Writes `postern report --demo` logs of about --gb gigabytes (56,000 hosts over
14 days is 1 GB), reads the file once to have it in the page cache, then runs
one after the other, each alone on the machine:

- `postern report --format json FILE` (the release build; parsing on one
  thread a core) and the same with `--threads 1`,
- `jq -n -R -c -f scripts/bench/report_ttr.jq FILE`,
- DuckDB's Python package: `read_json` plus SQL (scripts/bench/report_ttr_duckdb.py),
  and the same SQL over a line-exact read (`--line-exact`).

For each: the median wall time of --runs runs (jq runs once: it takes
minutes), throughput and peak resident memory (from wait4), and
whether its figures (time to resolve per control, for remote access tools and
overall: count, median, p90) equal postern's. Prints a Markdown table for
docs/PERFORMANCE.md. DuckDB is installed into DIR/venv from
scripts/bench/requirements.txt when missing.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOSTS_PER_GB = 56_000
DAYS = 14


def measure(cmd, out_path):
    """Runs cmd with stdout to out_path; returns (seconds, peak RSS in MiB)."""
    with open(out_path, "wb") as out:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("%s failed: %s" % (cmd[0], err[-2000:]))
    return seconds, usage.ru_maxrss / 1024


def postern_figures(report):
    controls = {
        c["control"]: c["time_to_resolve"]
        for c in report["controls"]
        if c["time_to_resolve"]["count"] > 0
    }
    return {
        "controls": controls,
        "remote_access": report["remote_access"]["time_to_resolve"],
        "overall": report["time_to_resolve"]["overall"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gb", type=float, default=1.0, help="size of the generated log (default 1)")
    ap.add_argument("--dir", default=os.path.join(ROOT, "target", "bench-report"))
    ap.add_argument("--runs", type=int, default=3, help="runs of each tool but jq; the median is reported")
    ap.add_argument("--skip-jq", action="store_true", help="jq reads about 4 MB/s: minutes per GB")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "postern"], cwd=ROOT, check=True)
    postern = os.path.join(ROOT, "target", "release", "postern")
    hosts = max(1, round(HOSTS_PER_GB * args.gb))
    log = os.path.join(args.dir, "fleet-%dh-%dd.log" % (hosts, DAYS))
    if not os.path.exists(log):
        subprocess.run([postern, "report", "--demo", log, "--hosts", str(hosts), "--days", str(DAYS)], check=True)
    size = os.path.getsize(log)
    with open(log, "rb") as f:  # into the page cache, for every tool alike
        while f.read(1 << 24):
            pass

    venv_python = os.path.join(args.dir, "venv", "bin", "python")
    if not os.path.exists(venv_python):
        subprocess.run([sys.executable, "-m", "venv", os.path.join(args.dir, "venv")], check=True)
        subprocess.run(
            [venv_python, "-m", "pip", "install", "--quiet", "-r", os.path.join(ROOT, "scripts", "bench", "requirements.txt")],
            check=True,
        )

    runs = [
        ("postern report", [postern, "report", "--format", "json", log]),
        ("postern report --threads 1", [postern, "report", "--format", "json", "--threads", "1", log]),
    ]
    if not args.skip_jq:
        if not shutil.which("jq"):
            sys.exit("jq is not installed (Debian: apt-get install jq), or pass --skip-jq")
        runs.append(("jq", ["jq", "-n", "-R", "-c", "-f", os.path.join(ROOT, "scripts", "bench", "report_ttr.jq"), log]))
    duck = os.path.join(ROOT, "scripts", "bench", "report_ttr_duckdb.py")
    runs.append(("DuckDB read_json + SQL", [venv_python, duck, log]))
    runs.append(("DuckDB line-exact + SQL", [venv_python, duck, "--line-exact", log]))

    results = []
    reference = None
    for name, cmd in runs:
        out = os.path.join(args.dir, "".join(c if c.isalnum() else "-" for c in name.lower()) + ".json")
        runs_here = 1 if name == "jq" else max(1, args.runs)
        timings = sorted(measure(cmd, out) for _ in range(runs_here))
        seconds = timings[len(timings) // 2][0]
        rss = max(t[1] for t in timings)
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
        figures = postern_figures(data) if name.startswith("postern") else data
        if reference is None:
            reference = figures
        same = figures == reference
        results.append((name, seconds, rss, same, figures))
        print(
            "%s: %s s, %.0f MiB, same figures: %s" % (name, " ".join("%.1f" % t[0] for t in timings), rss, same),
            file=sys.stderr,
        )

    mb = size / 1e6
    print("\nInput: %s, %.0f MB, %d hosts over %d days, %d cores.\n" % (os.path.basename(log), mb, hosts, DAYS, os.cpu_count()))
    print("| tool | wall | throughput | peak RSS | vs postern | same figures as postern |")
    print("|---|---|---|---|---|---|")
    base = results[0][1]
    for name, seconds, rss, same, _ in results:
        print(
            "| %s | %.1f s | %.0f MB/s | %.0f MiB | %.1fx the time | %s |"
            % (name, seconds, mb / seconds, rss, seconds / base, "yes" if same else "no")
        )
    print("\nTime to resolve (postern):", json.dumps(reference, sort_keys=True))
    for name, _, _, same, figures in results[1:]:
        if not same:
            print("%s differs:" % name, json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
