#!/usr/bin/env python3
"""Writes a synthetic host root for benchmarks: N processes under /proc,
M dpkg packages, F files under home directories, plus units, autostart
entries, sockets and USB devices. A few of each are catalog tools, so the
table has real matching work to do.

    scripts/synth_host.py DIR [--processes 2000] [--packages 5000] [--home-files 20000]
"""

import argparse
import json
import os
import random
import time


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)


def link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


TOOL_PROCS = [("anydesk", "/usr/bin/anydesk"), ("rustdesk", "/usr/bin/rustdesk"), ("cloudflared", "/usr/local/bin/cloudflared")]
TOOL_PKGS = ["anydesk", "teamviewer", "xrdp", "tailscale"]
NAMES = ["bash", "python3", "node", "chrome", "firefox", "code", "dockerd", "containerd", "sshd", "cron",
         "systemd-journald", "NetworkManager", "pipewire", "gnome-shell", "Xwayland", "java", "postgres"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--processes", type=int, default=2000)
    ap.add_argument("--packages", type=int, default=5000)
    ap.add_argument("--home-files", type=int, default=20000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--dpkg-log-lines", type=int, default=50000)
    ap.add_argument("--log-files", type=int, default=12)
    ap.add_argument("--extensions", type=int, default=200)
    ap.add_argument("--list-entries", type=int, default=60000,
                    help="APT package list entries (the installed packages, half with a newer version, and others)")
    args = ap.parse_args()
    rnd = random.Random(42)
    root = args.dir

    users = ["user%02d" % i for i in range(args.users)]
    write(f"{root}/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n" + "".join(
        f"{u}:x:{1000 + i}:{1000 + i}:{u}:/home/{u}:/bin/bash\n" for i, u in enumerate(users)))

    sockets = []
    for n in range(args.processes):
        pid = 100 + n
        if n < len(TOOL_PROCS):
            name, exe = TOOL_PROCS[n]
        else:
            name = rnd.choice(NAMES)
            exe = f"/usr/bin/{name}"
        uid = 0 if n % 3 == 0 else 1000 + n % args.users
        d = f"{root}/proc/{pid}"
        write(f"{d}/cmdline", f"{exe}\0--flag\0value-{n}\0")
        write(f"{d}/comm", name[:15] + "\n")
        write(f"{d}/status", f"Name:\t{name[:15]}\nState:\tS (sleeping)\nPid:\t{pid}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        link(f"{d}/exe", exe)
        for fd in range(3):
            link(f"{d}/fd/{fd}", "/dev/null")
        if n % 10 == 0:
            inode = 100000 + n
            sockets.append((inode, 20000 + n, uid))
            link(f"{d}/fd/3", f"socket:[{inode}]")
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    lines = [f"{i:4d}: 00000000:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000 {uid:5d}        0 {inode} 1 0 100 0 0 10 0\n"
             for i, (inode, port, uid) in enumerate(sockets)]
    write(f"{root}/proc/net/tcp", header + "".join(lines))
    write(f"{root}/proc/net/tcp6", header)
    write(f"{root}/proc/net/udp", header)
    write(f"{root}/proc/net/udp6", header)

    stanzas = []
    for n in range(args.packages):
        name = TOOL_PKGS[n] if n < len(TOOL_PKGS) else f"lib-synthetic-{n}"
        stanzas.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: libs\n"
            f"Installed-Size: {rnd.randint(10, 90000)}\nMaintainer: Example Maintainers <pkg@example.org>\n"
            f"Architecture: amd64\nMulti-Arch: same\nSource: src-{n}\nVersion: {n % 7}.{n % 13}.{n % 5}-1\n"
            f"Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0)\nDescription: synthetic package {n}\n"
            f" A longer description line that dpkg keeps for every package,\n and another one.\n")
    write(f"{root}/var/lib/dpkg/status", "\n".join(stanzas))

    for n in range(300):
        write(f"{root}/lib/systemd/system/synthetic-{n}.service", f"[Service]\nExecStart=/usr/sbin/synthd-{n}\n")
    write(f"{root}/lib/systemd/system/anydesk.service", "[Service]\nExecStart=/usr/bin/anydesk --service\n")
    link(f"{root}/etc/systemd/system/multi-user.target.wants/anydesk.service", "/lib/systemd/system/anydesk.service")
    for n in range(30):
        write(f"{root}/etc/xdg/autostart/synthetic-{n}.desktop", f"[Desktop Entry]\nExec=/usr/bin/app-{n}\n")

    per_user = max(1, args.home_files // len(users))
    subdirs = ["Downloads", "Desktop", ".local/bin", "Documents/projects/a", "Downloads/archive/2025"]
    count = 0
    for u in users:
        for i in range(per_user):
            sub = subdirs[i % len(subdirs)]
            name = f"file-{i}.txt"
            if i == 0:
                name = "AnyDesk.exe"
            elif i == 1:
                name = "rustdesk-1.3.2-x86_64.AppImage"
            write(f"{root}/home/{u}/{sub}/{name}", b"MZ" if name.endswith(".exe") else b"x" * 16)
            count += 1

    for n in range(20):
        d = f"{root}/sys/bus/usb/devices/1-{n}"
        for k, v in [("idVendor", "046d"), ("idProduct", "%04x" % n), ("manufacturer", "Logitech"), ("product", "Device")]:
            write(f"{d}/{k}", v + "\n")
    d = f"{root}/sys/bus/usb/devices/2-1"
    for k, v in [("idVendor", "1d6b"), ("idProduct", "0104"), ("manufacturer", "PiKVM"), ("product", "PiKVM Composite Device")]:
        write(f"{d}/{k}", v + "\n")
    # dpkg.log and its rotations: dpkg.log, dpkg.log.1, dpkg.log.2.gz ... oldest highest.
    import gzip
    per_file = max(1, args.dpkg_log_lines // args.log_files)
    start = 1735689600  # 2025-01-01
    line_no = 0
    for f in range(args.log_files - 1, -1, -1):
        lines = []
        for _ in range(per_file):
            t = start + line_no * 600
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))
            pkg = f"lib-synthetic-{line_no % max(1, args.packages)}"
            kind = ("install", "status installed", "configure", "upgrade")[line_no % 4]
            lines.append(f"{stamp} {kind} {pkg}:amd64 <none> 1.{line_no}\n")
            line_no += 1
        data = "".join(lines).encode()
        name = "dpkg.log" if f == 0 else f"dpkg.log.{f}" if f == 1 else f"dpkg.log.{f}.gz"
        write(f"{root}/var/log/{name}", gzip.compress(data) if name.endswith(".gz") else data)
    # APT: sources.list, Release files and package lists, so that apt itself
    # (`apt -o Dir=ROOT list --upgradable`) and postern read the same host.
    write(f"{root}/etc/apt/sources.list",
          "deb [trusted=yes] http://synth.example/debian bookworm main\n"
          "deb [trusted=yes] http://synth.example/debian-security bookworm-security main\n")
    lists = f"{root}/var/lib/apt/lists"
    for site, suite, label in (("synth.example_debian", "bookworm", "Debian"),
                               ("synth.example_debian-security", "bookworm-security", "Debian-Security")):
        write(f"{lists}/{site}_dists_{suite}_InRelease",
              f"Origin: Debian\nLabel: {label}\nSuite: {suite}\nCodename: {suite}\n"
              "Architectures: amd64\nComponents: main\nDate: Sat, 28 Nov 2026 10:00:00 UTC\n")
    main, security = [], []
    def entry(name, version):
        return (f"Package: {name}\nVersion: {version}\nInstalled-Size: 100\nMaintainer: Example <x@example.org>\n"
                f"Architecture: amd64\nDepends: libc6 (>= 2.34)\nDescription: {name}\n"
                f"Section: libs\nPriority: optional\nFilename: pool/main/{name}.deb\nSize: 1000\nSHA256: {'0' * 64}\n")
    for n in range(args.packages):
        name = TOOL_PKGS[n] if n < len(TOOL_PKGS) else f"lib-synthetic-{n}"
        installed = f"{n % 7}.{n % 13}.{n % 5}-1"
        if n % 2 == 0:
            main.append(entry(name, installed + "+deb12u1"))
            if n % 10 == 0:
                security.append(entry(name, installed + "+deb12u2"))
        else:
            # Offered, but older than installed (APT would take an equal
            # version with other fields for a different build).
            main.append(entry(name, "0~old-1"))
    for n in range(max(0, args.list_entries - len(main) - len(security))):
        main.append(entry(f"other-package-{n}", f"1.{n % 100}-1"))
    write(f"{lists}/synth.example_debian_dists_bookworm_main_binary-amd64_Packages", "\n".join(main))
    write(f"{lists}/synth.example_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
          "\n".join(security))
    for d in ("var/cache/apt/archives/partial", "var/lib/apt/lists/partial", "etc/apt/apt.conf.d",
              "etc/apt/preferences.d", "etc/apt/sources.list.d"):
        os.makedirs(f"{root}/{d}", exist_ok=True)
    write(f"{root}/etc/postern/policy.json", '{"enrollment": {"time": "2025-06-01T00:00:00Z"}}\n')

    # Chrome profiles holding the extensions, spread over the users.
    per_user = max(1, args.extensions // len(users))
    for i, u in enumerate(users):
        settings = {}
        for n in range(per_user):
            ext_id = "".join(chr(ord("a") + (x + n + i) % 16) for x in range(32))
            settings[ext_id] = {"install_time": str((1750000000 + n * 3600 + 11644473600) * 1000000), "location": 1,
                                "manifest": {"name": f"Extension {n}", "version": "1.0"}}
        write(f"{root}/home/{u}/.config/google-chrome/Default/Preferences", json.dumps({"extensions": {"settings": settings}}))
    print(f"{root}: {args.processes} processes, {args.packages} packages, {count} home files, "
          f"{line_no} dpkg log lines in {args.log_files} files, {per_user * len(users)} browser extensions")


if __name__ == "__main__":
    main()
