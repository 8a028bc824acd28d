#!/usr/bin/env python3
"""Benchmarks a full `software_hygiene` generate against `apt list
--upgradable` on the same host, in one run, and checks they agree.

    cargo build --release && scripts/bench_hygiene.py [--runs 7]

(a) synthetic host: a root from scripts/synth_host.py (5,000 dpkg packages,
    60,000 APT list entries in two archives, one a security pocket, half the
    packages upgradable): `postern query software_hygiene --root SYNTH`
    (every row: inventory, APT, end of life, functions, last use) and the
    same with `--where outdated=1`, against `apt -o Dir=SYNTH list
    --upgradable` (its package cache warm, as on a host where apt has run);
(b) this machine: the same commands on `/`.

Before timing, the set of packages postern calls outdated must equal the
set apt lists as upgradable. Reports median wall time, median CPU time
(user+sys) and peak RSS per command.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import measure, row  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def upgradable_by_apt(apt_cmd):
    out = subprocess.run(apt_cmd, capture_output=True, text=True, check=True).stdout
    return {l.split("/")[0] for l in out.splitlines() if "[upgradable from:" in l}


def outdated_by_postern(cmd):
    out = subprocess.run(cmd + ["--where", "outdated=1", "--format", "json"], capture_output=True,
                         text=True, check=True).stdout
    return {r["name"] for r in json.loads(out)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "postern"))
    args = ap.parse_args()
    apt = shutil.which("apt")
    if not os.path.exists(args.binary) or not apt:
        sys.exit("needs a release build (cargo build --release) and apt")
    os.makedirs(os.path.join(REPO, "target"), exist_ok=True)
    work = tempfile.mkdtemp(prefix="phyg", dir=os.path.join(REPO, "target"))
    try:
        synth = os.path.join(work, "host")
        subprocess.run([sys.executable, os.path.join(REPO, "scripts", "synth_host.py"), synth,
                        "--processes", "200", "--home-files", "2000"], check=True, stdout=subprocess.DEVNULL)
        cases = {
            "SYNTH": ([args.binary, "query", "software_hygiene", "--root", synth],
                      [apt, "-o", f"Dir={synth}", "-o", f"Dir::State::status={synth}/var/lib/dpkg/status",
                       "list", "--upgradable"]),
            "live": ([args.binary, "query", "software_hygiene"], [apt, "list", "--upgradable"]),
        }
        results = {}
        for label, (postern, apt_cmd) in cases.items():
            ours, theirs = outdated_by_postern(postern), upgradable_by_apt(apt_cmd)
            if ours != theirs:
                sys.exit(f"{label}: postern and apt disagree: {sorted(ours ^ theirs)[:10]}")
            full = postern + ["--format", "json"]
            only = postern + ["--where", "outdated=1", "--format", "json"]
            for cmds in ([full], [only], [apt_cmd]):
                measure(cmds, 1)
            results[label] = (len(theirs), measure([full], args.runs), measure([only], args.runs),
                              measure([apt_cmd], args.runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"runs per figure: {args.runs} (median)")
    print("| command | wall ms | cpu ms | peak RSS MiB |")
    print("|---|---|---|---|")
    for label, (n, full, only, apt_r) in results.items():
        print(row(f"postern query software_hygiene ({label})", full))
        print(row(f"postern query software_hygiene --where outdated=1 ({label})", only))
        print(row(f"apt list --upgradable ({label}; {n} upgradable, same set as postern)", apt_r))
        print(f"ratio {label}: full {full[0] / apt_r[0]:.2f}, outdated=1 {only[0] / apt_r[0]:.2f} (wall)")


if __name__ == "__main__":
    main()
