"""The jq program of the report benchmark computes the same time-to-resolve
figures as `postern report`, so the benchmark compares like with like."""

import json
import os
import shutil
import subprocess
import tempfile

POSTERN = os.environ.get("POSTERN_BIN", "target/debug/postern")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_jq_program_agrees_with_postern():
    jq = shutil.which("jq")
    assert jq, "jq is not installed (scripts/test installs Debian's jq)"
    with tempfile.TemporaryDirectory(prefix="pst-jq") as d:
        log = os.path.join(d, "fleet.log")
        subprocess.run([POSTERN, "report", "--demo", log, "--hosts", "300", "--days", "9"], check=True)
        report = json.loads(
            subprocess.run([POSTERN, "report", "--format", "json", log], check=True, capture_output=True).stdout
        )
        program = os.path.join(ROOT, "scripts", "bench", "report_ttr.jq")
        out = subprocess.run([jq, "-n", "-R", "-c", "-f", program, log], check=True, capture_output=True)
        figures = json.loads(out.stdout)

    want = {
        "controls": {c["control"]: c["time_to_resolve"] for c in report["controls"] if c["time_to_resolve"]["count"]},
        "remote_access": report["remote_access"]["time_to_resolve"],
        "overall": report["time_to_resolve"]["overall"],
    }
    assert figures == want
    # The demo resolves EDR, firewall and AnyDesk findings: all three are compared.
    assert set(figures["controls"]) == {"edr", "firewall"}
    assert figures["remote_access"]["count"] > 0
