"""`postern report --format html` in a real browser: Debian's Chromium,
headless, loads the page from a file with the network shut off, takes a
screenshot, and the test looks in it for the series colours of every chart.

The same page with its SVGs taken out is the control: the colours must be
missing there, so what the first screenshot shows was drawn by the charts.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
from PIL import Image, ImageChops

POSTERN = os.environ.get("POSTERN_BIN", "target/debug/postern")
CHARTS = {
    "chart-edr-coverage",
    "chart-compliance",
    "chart-time-to-resolve",
    "chart-remote-access-tools",
    "chart-top-software",
    "chart-software-per-week",
}
WIDTH, HEIGHT = 1100, 7000


def chromium():
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed (scripts/test installs Debian's chromium)")


def browser(workdir, *args):
    """Runs headless Chromium with no network and a fresh profile."""
    profile = tempfile.mkdtemp(prefix="profile", dir=workdir)
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--enable-logging=stderr",
        "--user-data-dir=" + profile,
        "--window-size=%d,%d" % (WIDTH, HEIGHT),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def screenshot(workdir, page, name):
    png = os.path.join(workdir, name)
    out = browser(workdir, "--screenshot=" + png, "file://" + page)
    assert os.path.exists(png), out.stderr[-2000:]
    assert "Content Security Policy" not in out.stderr, out.stderr[-2000:]
    return Image.open(png).convert("RGB")


def count(image, color, tolerance=6):
    """Pixels within `tolerance` of `color` (#rrggbb) on every channel."""
    want = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    mask = None
    for channel, value in zip(image.split(), want):
        lo, hi = value - tolerance, value + tolerance
        band = channel.point(lambda p, lo=lo, hi=hi: 255 if lo <= p <= hi else 0).convert("1")
        mask = band if mask is None else ImageChops.logical_and(mask, band)
    return mask.convert("L").histogram()[255]


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="pst-html")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def run(*args):
    out = subprocess.run([POSTERN, *args], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return out


def test_every_chart_renders_in_chromium(workdir):
    log = os.path.join(workdir, "results.log")
    page = os.path.join(workdir, "report.html")
    run("report", "--demo", log, "--hosts", "40", "--days", "14")
    run("report", log, "--output", page)
    html = open(page, encoding="utf-8").read()
    figures = dict(re.findall(r'<figure id="(chart-[^"]+)" data-colors="([^"]+)"', html))
    assert set(figures) == CHARTS

    shot = screenshot(workdir, page, "report.png")
    assert shot.size == (WIDTH, HEIGHT)
    # Without the SVGs, none of the chart colours is on the page.
    bare = os.path.join(workdir, "bare.html")
    with open(bare, "w", encoding="utf-8") as f:
        f.write(re.sub(r"<svg.*?</svg>", "", html, flags=re.S))
    control = screenshot(workdir, bare, "bare.png")

    for chart, colors in figures.items():
        for color in colors.split():
            drawn, absent = count(shot, color), count(control, color)
            # A bar or a line of the chart covers hundreds of pixels at least.
            assert drawn >= 300, "%s: %s covers only %d pixels" % (chart, color, drawn)
            assert absent == 0, "%s: %s is on the page without the chart" % (chart, color)

    # The browser parsed the charts as SVG inside their figures.
    dom = browser(workdir, "--dump-dom", "file://" + page).stdout
    for chart in CHARTS:
        at = dom.index('id="%s"' % chart)
        assert dom.index("<svg", at) < dom.index("</figure>", at), chart


def test_hostile_names_stay_text_in_the_browser(workdir):
    """Host and software names come from the audited hosts: none may become markup."""
    evil = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    lines = []
    for query, columns in [
        ("postern_control_status", {"control": "edr" + evil, "status": "fail"}),
        ("postern_remote_access_unapproved", {"tool_id": "anydesk" + evil}),
        ("postern_new_unmanaged_software", {"name": evil, "source": "deb", "install_time": "100"}),
    ]:
        lines.append(
            json.dumps(
                {
                    "name": query,
                    "hostIdentifier": "host" + evil,
                    "unixTime": 1767571200,
                    "columns": columns,
                    "action": "added",
                    "decorations": {"platform": evil},
                }
            )
        )
    log = os.path.join(workdir, "evil.log")
    with open(log, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    page = os.path.join(workdir, "evil.html")
    run("report", log, "--format", "html", "--output", page)
    out = browser(workdir, "--dump-dom", "file://" + page)
    dom = out.stdout
    assert "<figure" in dom, out.stderr[-2000:]
    assert "<img" not in dom
    assert "<script" not in dom
    assert 'onerror="' not in dom
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in dom
