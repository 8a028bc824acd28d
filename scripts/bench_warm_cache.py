#!/usr/bin/env python3
"""new_software_since_enrollment in osquery mode, cold and warm, against
`zcat -f /var/log/dpkg.log*` plus `dpkg-query -W` on this machine; and
remote_access_tools, cold and warm, against `ps -eo pid,comm,args` plus
`dpkg-query -W` (the executables at rest are searched for tools' markers
on its first call, then answered from the identity cache).

    cargo build --release && .venv/bin/python scripts/bench_warm_cache.py [--runs 9] [--files 15] [--processes 2000]

postern runs in osquery mode against tests/e2e/fake_osquery.py; once its
first run has recorded the enrollment baseline, --files portable executables
(copies of /bin/bash, each a different file) appear in a directory under
/tmp, so every query reports them with their SHA-256. The first query after
that reads and hashes them (cold); later ones find them in the extension's
cache (warm). Times are per call, as osquery would see them.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from harness import Core, Ext, generate, wait_for  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def baseline_cmd():
    subprocess.run("zcat -f /var/log/dpkg.log* > /dev/null; dpkg-query -W > /dev/null",
                   shell=True, check=True)


def ps_baseline_cmd():
    subprocess.run("ps -eo pid,comm,args > /dev/null; dpkg-query -W > /dev/null",
                   shell=True, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--files", type=int, default=15)
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "postern"))
    ap.add_argument("--processes", type=int, default=0,
                    help="extra processes running during the measures (bench.py uses 2000)")
    args = ap.parse_args()
    extra = [subprocess.Popen(["sleep", "3600"]) for _ in range(args.processes)]
    os.environ["POSTERN_BIN"] = args.bin

    work = tempfile.mkdtemp(prefix="pst")
    files = tempfile.mkdtemp(prefix="pbench-portable-", dir="/tmp")
    core = Core(work)
    ext = Ext(core.socket, env={"POSTERN_STATE_DIR": os.path.join(work, "state")})
    try:
        uuid, _ = wait_for(core.registered, what="registration")
        path = "%s.%d" % (core.socket, uuid)
        wait_for(lambda: os.path.exists(os.path.join(work, "state", "baseline.json")),
                 timeout=60, what="baseline")
        bash = open("/bin/bash", "rb").read()
        for i in range(args.files):
            with open(os.path.join(files, "tool-%02d" % i), "wb") as f:
                f.write(bash + i.to_bytes(4, "little"))
            os.chmod(os.path.join(files, "tool-%02d" % i), 0o755)

        def query():
            resp = generate(path, "new_software_since_enrollment")
            assert resp.status.code == 0, resp.status.message
            return [r for r in resp.response if r.get("path", "").startswith(files)]

        cold, rows = timed(query)
        assert len(rows) == args.files and all(len(r["sha256"]) == 64 for r in rows), rows
        warm = statistics.median(timed(query)[0] for _ in range(args.runs))
        base = statistics.median(timed(baseline_cmd)[0] for _ in range(args.runs))
        print("| measure | ms |")
        print("|---|---|")
        print("| new_software_since_enrollment, first call with %d new portable executables (cold) | %.1f |"
              % (args.files, cold))
        print("| the same, later calls (warm; median of %d) | %.1f |" % (args.runs, warm))
        print("| zcat -f /var/log/dpkg.log* + dpkg-query -W (median of %d) | %.1f |" % (args.runs, base))
        print("ratio cold %.2f, warm %.2f" % (cold / base, warm / base))

        def rat():
            resp = generate(path, "remote_access_tools")
            assert resp.status.code == 0, resp.status.message
            return resp.response

        rat_cold, _ = timed(rat)
        rat_warm = statistics.median(timed(rat)[0] for _ in range(args.runs))
        ps_base = statistics.median(timed(ps_baseline_cmd)[0] for _ in range(args.runs))
        print("| remote_access_tools, first call (cold identity cache) | %.1f |" % rat_cold)
        print("| the same, later calls (warm; median of %d) | %.1f |" % (args.runs, rat_warm))
        print("| ps -eo pid,comm,args + dpkg-query -W (median of %d) | %.1f |" % (args.runs, ps_base))
        print("ratio cold %.2f, warm %.2f" % (rat_cold / ps_base, rat_warm / ps_base))
    finally:
        for p in extra:
            p.kill()
            p.wait()
        ext.stop()
        core.stop()
        shutil.rmtree(files, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
