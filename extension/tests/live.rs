#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The collectors against the live machine: a harmless program copied under
//! a catalog name is started and must be reported with its pid; the whole
//! table must answer on this host without errors.

use std::process::{Child, Command};
use std::time::Duration;

use postern::engine::Engine;
use postern::output::to_json;
use postern::policy::PolicySource;
use postern::root::HostRoot;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn live_engine() -> Engine {
    // An explicit, absent policy file: the host's own policy does not matter here.
    let dir = std::env::temp_dir().join("postern-live-no-policy.json");
    Engine::new(
        HostRoot::system(),
        PolicySource::Explicit(dir),
        false,
        Duration::from_secs(60),
    )
}

/// Every row of `security_control_health` on this host.
fn control_rows() -> Vec<serde_json::Value> {
    let result = live_engine()
        .generate("security_control_health", "")
        .unwrap();
    match to_json(result.columns, &result.rows) {
        serde_json::Value::Array(rows) => rows,
        other => panic!("{other}"),
    }
}

/// The process rows `remote_access_tools` reports for one pid.
fn process_rows(pid: u32) -> Vec<serde_json::Value> {
    // `spawn` can return while the child is still inside execve (glibc's
    // posix_spawn resumes the parent once the old memory is released):
    // the new executable is in place but its command line is not yet.
    for _ in 0..200 {
        if std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let context =
        format!(r#"{{"constraints":[{{"name":"pid","list":[{{"op":2,"expr":"{pid}"}}]}}]}}"#);
    let result = live_engine()
        .generate("remote_access_tools", &context)
        .unwrap();
    let rows = to_json(result.columns, &result.rows);
    rows.as_array()
        .unwrap()
        .iter()
        .filter(|r| r["evidence_type"] == "process")
        .cloned()
        .collect()
}

/// Starts a program that this process has just written. Another test thread
/// may fork while the copy's write descriptor is still open; until that child
/// execs, the kernel refuses to run the file ("Text file busy"), so retry.
fn spawn_copied(command: &mut Command) -> Child {
    for _ in 0..50 {
        match command.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
    command.spawn().unwrap()
}

#[test]
fn finds_a_running_program_named_like_a_tool() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("rustdesk");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let child = Killed(spawn_copied(Command::new(&fake).arg("30")));
    let pid = child.0.id();

    let process = process_rows(pid);
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(process[0]["tool_id"], "rustdesk");
    assert_eq!(process[0]["pid"], pid.to_string());
    assert_eq!(process[0]["path"], fake.display().to_string());
}

#[test]
fn whole_table_answers_on_this_host() {
    let result = live_engine().generate("remote_access_tools", "").unwrap();
    for row in to_json(result.columns, &result.rows).as_array().unwrap() {
        if row["tool_id"].as_str().unwrap().is_empty() {
            // A row about the host: a search cut short, a hidden process.
            assert!(
                ["scan_incomplete", "hidden_process"]
                    .contains(&row["evidence_type"].as_str().unwrap()),
                "{row}"
            );
            continue;
        }
        assert!(["0", "1"].contains(&row["approved"].as_str().unwrap()));
    }
}

#[test]
fn security_controls_on_this_host_are_plausible() {
    let result = live_engine()
        .generate("security_control_health", "")
        .unwrap();
    let rows = to_json(result.columns, &result.rows);
    let rows = rows.as_array().unwrap();
    let status = |control: &str| -> String {
        let found: Vec<_> = rows.iter().filter(|r| r["control"] == control).collect();
        assert_eq!(found.len(), 1, "{control}: {rows:?}");
        found[0]["status"].as_str().unwrap().to_string()
    };
    for control in [
        "edr",
        "disk_encryption",
        "swap_encryption",
        "firewall",
        "auto_updates",
        "mac",
        "secure_boot",
        "kernel_lockdown",
        "audit_daemon",
        "ssh_root_login",
        "ssh_password_auth",
        "remote_desktop_services",
        "unapproved_remote_access",
        "screen_lock",
        "time_sync",
        "osquery",
        "postern_policy",
    ] {
        let s = status(control);
        assert!(
            ["pass", "fail", "degraded", "unknown", "not_applicable"].contains(&s.as_str()),
            "{control}: {s}"
        );
    }
    // Facts this test can check independently of postern.
    if !std::path::Path::new("/sys/firmware/efi").exists() {
        assert_eq!(status("secure_boot"), "fail");
    }
    if std::fs::read_to_string("/proc/swaps").is_ok_and(|s| s.lines().count() <= 1) {
        assert_eq!(status("swap_encryption"), "not_applicable");
    }
    let sshd = std::path::Path::new("/etc/ssh/sshd_config").exists();
    if !sshd && !std::path::Path::new("/usr/sbin/sshd").exists() {
        assert_eq!(status("ssh_root_login"), "not_applicable");
    }
    // The explicit policy path used here does not exist.
    assert_eq!(status("postern_policy"), "fail");
    // status_since: kernel state since boot (btime, read here directly);
    // never in the future; NULL for a missing policy file.
    let since = |control: &str| -> Option<i64> {
        let row = rows.iter().find(|r| r["control"] == control).unwrap();
        row["status_since"].as_str().and_then(|s| s.parse().ok())
    };
    let btime: i64 = std::fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for control in ["mac", "secure_boot", "kernel_lockdown"] {
        if status(control) != "unknown" {
            assert_eq!(since(control), Some(btime), "{control}");
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for row in rows {
        if let Some(t) = row["status_since"]
            .as_str()
            .and_then(|s| s.parse::<i64>().ok())
        {
            assert!(t <= now, "{row}");
        }
    }
    assert_eq!(since("postern_policy"), None);
}

#[test]
fn a_daemon_running_here_is_running_since_its_start() {
    // A process named like the audit daemon, started now: auditd is then
    // running since about now (its start time from /proc/PID/stat).
    let real = std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm")).is_ok_and(|c| c.trim() == "auditd")
    });
    if real {
        eprintln!("a real auditd runs here: its start time is older; nothing to compare");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("auditd");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let _child = Killed(Command::new(&fake).arg("30").spawn().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    let row = control_rows()
        .into_iter()
        .find(|r| r["control"] == "audit_daemon")
        .unwrap();
    assert_eq!(row["running"], "1", "{row}");
    let since: i64 = row["status_since"].as_str().unwrap().parse().unwrap();
    // btime is whole seconds and ticks are 1/100 s: allow 2 s either way.
    assert!(
        (before - 2..=before + 3).contains(&since),
        "{since} vs {before}"
    );
}

#[test]
fn new_software_on_this_host_answers() {
    let dir = tempfile::tempdir().unwrap();
    let engine = live_engine().with_state_dir(dir.path());
    // Without a baseline or enrollment time: no rows, and a warning says why
    // (unless this host has an osquery database to estimate from).
    let result = engine
        .generate("new_software_since_enrollment", "")
        .unwrap();
    if !std::path::Path::new("/var/osquery/osquery.db").exists() {
        assert!(result.rows.is_empty());
        assert!(result
            .warnings
            .iter()
            .any(|w| w.contains("no enrollment time")));
    }
    // With a baseline recorded now, a file that appears afterwards is new.
    let store = engine.state().clone();
    postern::baseline::record(engine.root(), &store, postern::engine::unix_now(), false).unwrap();
    let fresh = tempfile::Builder::new()
        .prefix("postern-live")
        .tempdir_in("/tmp")
        .unwrap();
    let exe = fresh.path().join("ngrok");
    std::fs::copy("/bin/true", &exe).unwrap();
    let result = engine
        .generate("new_software_since_enrollment", "")
        .unwrap();
    let rows = to_json(result.columns, &result.rows);
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == exe.display().to_string())
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(row["remote_access_tool"], "ngrok");
    assert_eq!(row["in_baseline"], "0");
}

#[test]
fn argv0_names_a_process_whose_executable_does_not() {
    use std::os::unix::process::CommandExt;
    let child = Killed(
        Command::new("/bin/sleep")
            .arg0("rustdesk")
            .arg("30")
            .spawn()
            .unwrap(),
    );
    let pid = child.0.id();
    let process = process_rows(pid);
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(process[0]["tool_id"], "rustdesk");
    assert!(process[0]["evidence"]
        .as_str()
        .unwrap()
        .starts_with("process rustdesk"));
}

#[test]
fn a_copy_renamed_in_case_version_and_suffix_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("AnyDesk-6.3.0.bin");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let child = Killed(spawn_copied(Command::new(&fake).arg("30")));
    let process = process_rows(child.0.id());
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(process[0]["tool_id"], "anydesk");
    assert_eq!(process[0]["confidence"], "medium");
    assert!(process[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("named AnyDesk-6.3.0.bin"));
}

#[test]
fn a_tool_run_from_memory_under_a_kernel_threads_name_is_found() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    // A memfd called like the tool, holding a program, run with argv[0]
    // "kthreadd": no file on disk, a harmless name in ps.
    let fd = rustix::fs::memfd_create("anydesk", rustix::fs::MemfdFlags::empty()).unwrap();
    let mut memfd = std::fs::File::from(fd);
    memfd
        .write_all(&std::fs::read("/bin/sleep").unwrap())
        .unwrap();
    let path = format!("/proc/self/fd/{}", memfd.as_raw_fd());
    let child = Killed(spawn_copied(Command::new(&path).arg0("kthreadd").arg("30")));
    drop(memfd);
    let process = process_rows(child.0.id());
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(process[0]["tool_id"], "anydesk");
    let evidence = process[0]["evidence"].as_str().unwrap();
    assert!(evidence.contains("run from memory"), "{evidence}");
}

#[test]
fn a_process_hidden_by_a_mount_over_its_proc_entry_is_reported() {
    // Needs root and mount namespaces; the mount is made in a private
    // namespace, so this machine's own /proc is never touched.
    if !rustix::process::geteuid().is_root()
        || !Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|s| s.success())
    {
        return;
    }
    let empty = tempfile::tempdir().unwrap();
    let script = format!(
        "sleep 30 & pid=$!; mount --bind '{}' /proc/$pid && echo $pid && \
         '{}' query remote_access_tools --where evidence_type=hidden_process --format json; \
         kill $pid",
        empty.path().display(),
        env!("CARGO_BIN_EXE_postern")
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (pid, json) = text.split_once('\n').expect("pid, then the rows");
    let rows: serde_json::Value = serde_json::from_str(json).unwrap();
    let hidden: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pid"] == pid.trim())
        .collect();
    assert_eq!(
        hidden.len(),
        1,
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(hidden[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("hidden from ps"));
}

/// A program that carries a tool's built-in markers (copied from the
/// catalog at run time, so no test binary holds them): `/bin/sleep` with the
/// marker bytes appended, which ELF loaders ignore.
fn program_carrying(tool: &str, path: &std::path::Path) {
    let catalog = postern::catalog::Catalog::embedded().unwrap();
    let entry = catalog.tools.iter().find(|t| t.id == tool).unwrap();
    let mut bytes = std::fs::read("/bin/sleep").unwrap();
    for marker in &entry.binary_markers_hex {
        bytes.extend(b"\0");
        bytes.extend(postern::catalog::decode_hex(marker).unwrap());
    }
    std::fs::write(path, bytes).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_renamed_tool_is_known_by_what_its_executable_carries() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let hidden = dir.path().join("update-helper");
    program_carrying("rustdesk", &hidden);
    // Renamed, run with a spoofed argv[0]; and a hard link under another name.
    let linked = dir.path().join("gvfsd-helper");
    std::fs::hard_link(&hidden, &linked).unwrap();
    let renamed = Killed(spawn_copied(
        Command::new(&hidden).arg0("kworker/0:1").arg("30"),
    ));
    let link = Killed(spawn_copied(Command::new(&linked).arg("30")));
    for child in [&renamed, &link] {
        let process = process_rows(child.0.id());
        assert_eq!(process.len(), 1, "{process:?}");
        assert_eq!(process[0]["tool_id"], "rustdesk");
        assert_eq!(process[0]["confidence"], "high");
        let evidence = process[0]["evidence"].as_str().unwrap();
        assert!(
            evidence.contains("carries RustDesk's built-in markers"),
            "{evidence}"
        );
    }
}

#[test]
fn a_renamed_binary_is_known_by_its_elf_package_note() {
    // A program built the way Fedora builds every binary, with the ELF
    // package metadata note naming the package it came from: here a
    // catalog package, x11vnc. Compiled by gcc, renamed, run as a kernel
    // thread's name.
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("note.c");
    std::fs::write(
        &source,
        r#"#include <unistd.h>
__attribute__((used, section(".note.package"), aligned(4)))
static const struct { unsigned n, d, t; char name[4]; char desc[64]; } pkg =
    {4, 64, 0xcafe1a7e, "FDO", "{\"type\":\"deb\",\"name\":\"x11vnc\",\"version\":\"0.9.16\"}"};
int main(void) { sleep(30); return 0; }
"#,
    )
    .unwrap();
    let program = dir.path().join("dbus-session-helper");
    let built = Command::new("gcc")
        .arg("-O2")
        .arg("-o")
        .arg(&program)
        .arg(&source)
        .status()
        .expect("gcc (the machine's C compiler) runs");
    assert!(built.success());
    let child = Killed(spawn_copied(Command::new(&program).arg0("kworker/2:0")));
    let process = process_rows(child.0.id());
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(process[0]["tool_id"], "x11vnc");
    assert_eq!(process[0]["confidence"], "high");
    let evidence = process[0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("is from the deb package x11vnc 0.9.16 (its ELF package note)"),
        "{evidence}"
    );
}

#[test]
fn a_tool_run_from_an_anonymous_memfd_is_known_by_its_content() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p");
    program_carrying("rustdesk", &program);
    let fd = rustix::fs::memfd_create("x", rustix::fs::MemfdFlags::empty()).unwrap();
    let mut memfd = std::fs::File::from(fd);
    memfd.write_all(&std::fs::read(&program).unwrap()).unwrap();
    let path = format!("/proc/self/fd/{}", memfd.as_raw_fd());
    let child = Killed(spawn_copied(Command::new(&path).arg0("kthreadd").arg("30")));
    drop(memfd);
    let process = process_rows(child.0.id());
    assert_eq!(process.len(), 1, "{process:?}");
    assert_eq!(process[0]["tool_id"], "rustdesk");
    let evidence = process[0]["evidence"].as_str().unwrap();
    assert!(
        evidence.contains("run from memory") && evidence.contains("carries"),
        "{evidence}"
    );
}

#[test]
fn apt_candidates_agree_with_apt_list_upgradable() {
    use std::collections::{BTreeSet, HashSet};
    let Ok(out) = Command::new("apt").args(["list", "--upgradable"]).output() else {
        eprintln!("no apt here");
        return;
    };
    let apt: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("[upgradable from:"))
        .filter_map(|l| l.split('/').next())
        .map(|n| n.split(':').next().unwrap().to_string())
        .collect();
    let status = std::fs::read("/var/lib/dpkg/status").unwrap();
    let installed = postern::host::packages::parse_dpkg_status(&status);
    let names: HashSet<String> = installed.iter().map(|p| p.name.clone()).collect();
    let lists = postern::host::apt::Lists::read(&HostRoot::system(), &names);
    assert!(lists.lists > 0, "{:?}", lists.warnings);
    let ours: BTreeSet<String> = installed
        .iter()
        .filter(|p| {
            lists
                .candidate(&p.name, &p.arch, &p.version)
                .is_some_and(|c| c.newer)
        })
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(
        ours.symmetric_difference(&apt).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "postern and apt disagree; apt lists {} upgradable",
        apt.len()
    );
}

/// Debian version order (the debversion crate) against dpkg itself, on
/// versions from this machine's package lists: every version of the same
/// package against each other, and pseudo-random pairs across packages.
#[test]
fn debian_version_order_agrees_with_dpkg() {
    use std::str::FromStr;
    if Command::new("dpkg").arg("--version").output().is_err() {
        eprintln!("no dpkg here");
        return;
    }
    let mut versions = apt_list_versions();
    if versions.len() < 1000 {
        eprintln!("too few package lists here ({} versions)", versions.len());
        return;
    }
    let pairs = version_pairs(&mut versions, 2500);
    let (_dir, list) = pairs_file(&pairs);
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"while read a b; do if dpkg --compare-versions "$a" lt "$b"; then echo lt; elif dpkg --compare-versions "$a" eq "$b"; then echo eq; else echo gt; fi; done < "$1""#)
        .arg("sh")
        .arg(&list)
        .output()
        .unwrap();
    let dpkg: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(dpkg.len(), pairs.len());
    let mut disagree = Vec::new();
    for ((a, b), want) in pairs.iter().zip(&dpkg) {
        let (va, vb) = (
            debversion::Version::from_str(a).unwrap(),
            debversion::Version::from_str(b).unwrap(),
        );
        let ours = match va.cmp(&vb) {
            std::cmp::Ordering::Less => "lt",
            std::cmp::Ordering::Equal => "eq",
            std::cmp::Ordering::Greater => "gt",
        };
        if ours != want {
            disagree.push(format!("{a} {b}: dpkg {want}, debversion {ours}"));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} of {}: {:?}",
        disagree.len(),
        pairs.len(),
        &disagree[..disagree.len().min(10)]
    );
}

/// (package, version) of every stanza in this machine's APT lists.
fn apt_list_versions() -> Vec<(String, String)> {
    use std::io::Read as _;
    let mut versions: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir("/var/lib/apt/lists").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.contains("_Packages") {
            continue;
        }
        let file = std::fs::File::open(entry.path()).unwrap();
        let mut text = String::new();
        let read = if name.ends_with(".lz4") {
            lz4_flex::frame::FrameDecoder::new(file).read_to_string(&mut text)
        } else if name.ends_with("_Packages") {
            std::io::BufReader::new(file).read_to_string(&mut text)
        } else {
            continue;
        };
        read.unwrap();
        let mut package = String::new();
        for line in text.lines() {
            if let Some(p) = line.strip_prefix("Package: ") {
                package = p.to_string();
            } else if let Some(v) = line.strip_prefix("Version: ") {
                versions.push((package.clone(), v.to_string()));
            }
        }
    }
    versions
}

/// The pairs, one `a b` line each, in a temporary file.
fn pairs_file(pairs: &[(String, String)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("pairs");
    let text: String = pairs.iter().map(|(a, b)| format!("{a} {b}\n")).collect();
    std::fs::write(&list, text).unwrap();
    (dir, list)
}

/// Pairs to compare: every version of one package against the next, then
/// pseudo-random pairs across packages, `count` in all.
fn version_pairs(versions: &mut Vec<(String, String)>, count: usize) -> Vec<(String, String)> {
    versions.sort();
    versions.dedup();
    let mut pairs: Vec<(String, String)> = versions
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| (w[0].1.clone(), w[1].1.clone()))
        .collect();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    while pairs.len() < count {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let a = &versions[(seed % versions.len() as u64) as usize].1;
        let b = &versions[((seed >> 20) % versions.len() as u64) as usize].1;
        pairs.push((a.clone(), b.clone()));
    }
    pairs.truncate(count);
    pairs
}

/// rpm version order (the rpm-version crate software_hygiene uses for RPM
/// hosts) against rpm itself (`rpm.vercmp` in rpm's Lua), on 3,000 pairs:
/// real version strings from this machine's package lists, and the same
/// strings given epochs, `~` pre-releases and `^` snapshots, which rpm
/// orders specially.
#[test]
fn rpm_version_order_agrees_with_rpm() {
    if Command::new("rpm").arg("--version").output().is_err() {
        eprintln!("no rpm here");
        return;
    }
    let mut versions = apt_list_versions();
    if versions.len() < 1000 {
        eprintln!("too few package lists here ({} versions)", versions.len());
        return;
    }
    // rpm's version strings have no spaces or colons past the epoch.
    versions.retain(|(_, v)| !v.contains(' ') && v.matches(':').count() <= 1);
    let mut pairs = version_pairs(&mut versions, 2000);
    let twists = ["~rc1", "^git20240101", "~~", "^", ".el9_4", "a", ".1"];
    for (i, (a, b)) in pairs.clone().iter().enumerate().take(1000) {
        let t = twists[i % twists.len()];
        let (a, b) = match i % 4 {
            0 => (format!("{a}{t}"), a.clone()),
            1 => (format!("{a}{t}"), format!("{b}{t}")),
            2 => (format!("1:{}", a.rsplit(':').next().unwrap()), b.clone()),
            _ => (a.clone(), format!("{b}{t}")),
        };
        pairs.push((a, b));
    }
    let (_dir, list) = pairs_file(&pairs);
    let script = format!(
        "%{{lua: for l in io.lines(\"{}\") do local a, b = l:match(\"(%S+) (%S+)\"); print(rpm.vercmp(a, b) .. \"\\n\") end}}",
        list.display()
    );
    let out = Command::new("rpm")
        .arg("--eval")
        .arg(script)
        .output()
        .unwrap();
    let rpm: Vec<i32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(
        rpm.len(),
        pairs.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut disagree = Vec::new();
    for ((a, b), want) in pairs.iter().zip(&rpm) {
        let ours = match rpm_version::rpm_evr_compare(a, b) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        };
        if ours != want.signum() {
            disagree.push(format!("{a} {b}: rpm {want}, rpm-version {ours}"));
        }
    }
    assert!(
        disagree.is_empty(),
        "{} of {}: {:?}",
        disagree.len(),
        pairs.len(),
        &disagree[..disagree.len().min(10)]
    );
}

/// `laptop_farm_signals` on this machine, for what a server has: its time
/// zone against an assignment (read here independently), no shelf posture
/// on a machine that is no laptop, input devices and USB read or said
/// unknown, and the score made of the rows.
#[test]
fn laptop_farm_signals_on_this_host() {
    let zone = std::fs::read_link("/etc/localtime")
        .ok()
        .and_then(|t| {
            let t = t.to_string_lossy().into_owned();
            t.rsplit_once("zoneinfo/").map(|(_, z)| z.to_string())
        })
        .or_else(|| {
            std::fs::read_to_string("/etc/timezone")
                .ok()
                .map(|t| t.lines().next().unwrap_or("").trim().to_string())
        });
    let run = |policy: &str| -> Vec<serde_json::Value> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.json");
        std::fs::write(&file, policy).unwrap();
        let engine = Engine::new(
            HostRoot::system(),
            PolicySource::Explicit(file),
            false,
            Duration::from_secs(60),
        );
        let result = engine.generate("laptop_farm_signals", "").unwrap();
        match to_json(result.columns, &result.rows) {
            serde_json::Value::Array(rows) => rows,
            other => panic!("{other}"),
        }
    };
    let of = |rows: &[serde_json::Value], id: &str| -> Vec<serde_json::Value> {
        rows.iter().filter(|r| r["signal"] == id).cloned().collect()
    };
    if let Some(zone) = zone
        .clone()
        .filter(|z| !z.is_empty() && z != "UTC" && !z.starts_with("Etc/"))
    {
        // The assignment is this host's own zone: no drift.
        let rows = run(&format!(r#"{{"assignment": {{"timezones": ["{zone}"]}}}}"#));
        assert!(of(&rows, "timezone").is_empty(), "{rows:#?}");
        // Elsewhere: drift, observed as this host's zone.
        let rows = run(r#"{"assignment": {"timezones": ["Antarctica/Troll"]}}"#);
        assert_eq!(of(&rows, "timezone")[0]["observed"], zone.as_str());
    } else {
        eprintln!("time zone {zone:?}: neutral or unreadable here");
    }
    let rows = run("{}");
    // A machine without a system battery and with a chassis that is not
    // portable is no laptop: no shelf posture.
    let battery = std::fs::read_dir("/sys/class/power_supply")
        .map(|d| {
            d.flatten().any(|e| {
                std::fs::read_to_string(e.path().join("type")).is_ok_and(|t| t.trim() == "Battery")
                    && std::fs::read_to_string(e.path().join("scope"))
                        .map_or(true, |s| s.trim() != "Device")
            })
        })
        .unwrap_or(false);
    let chassis: Option<u32> = std::fs::read_to_string("/sys/class/dmi/id/chassis_type")
        .ok()
        .and_then(|c| c.trim().parse().ok());
    let portable = chassis.is_some_and(|c| [8, 9, 10, 14, 30, 31, 32].contains(&c));
    if !battery && !portable && std::path::Path::new("/sys/class/power_supply").exists() {
        assert!(
            rows.iter().all(|r| r["category"] != "shelf_posture"),
            "{rows:#?}"
        );
    }
    if std::fs::read_to_string("/proc/bus/input/devices").is_ok() {
        assert!(of(&rows, "virtual_input_device")
            .iter()
            .all(|r| r["status"] != "unknown"));
    }
    let usb_unknown = of(&rows, "capture_device")
        .iter()
        .any(|r| r["status"] == "unknown");
    assert_eq!(
        usb_unknown,
        !std::path::Path::new("/sys/bus/usb/devices").is_dir()
    );
    // The score is each present signal once, at its highest weight.
    let mut best: std::collections::BTreeMap<String, i64> = Default::default();
    for r in rows.iter().filter(|r| r["status"] == "present") {
        let w: i64 = r["weight"].as_str().unwrap().parse().unwrap();
        let e = best
            .entry(r["signal"].as_str().unwrap().to_string())
            .or_default();
        *e = (*e).max(w);
    }
    let score = of(&rows, "score");
    assert_eq!(score.len(), 1);
    assert_eq!(score[0]["weight"], best.values().sum::<i64>().to_string());
}

/// A VNC server (a program named x11vnc) with an inbound TCP connection on
/// its port from this machine's own address: a remote session now.
#[test]
fn an_inbound_vnc_connection_is_a_remote_session() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("x11vnc");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let _server = Killed(spawn_copied(Command::new(&fake).arg("60")));
    // This machine's address toward the outside (a UDP connect sends nothing).
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    if probe.connect("192.0.2.1:9").is_err() {
        eprintln!("no route: no non-loopback address here");
        return;
    }
    let ip = probe.local_addr().unwrap().ip();
    if ip.is_loopback() || ip.is_unspecified() {
        eprintln!("no non-loopback address here");
        return;
    }
    let listener = (5901..5999)
        .find_map(|p| std::net::TcpListener::bind(("0.0.0.0", p)).ok())
        .expect("a free VNC port");
    let port = listener.local_addr().unwrap().port();
    let _client = std::net::TcpStream::connect((ip, port)).unwrap();
    let (_accepted, _) = listener.accept().unwrap();
    let engine = live_engine();
    let result = engine.generate("laptop_farm_signals", "").unwrap();
    let rows = to_json(result.columns, &result.rows);
    let sessions: Vec<&serde_json::Value> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["signal"] == "remote_session")
        .collect();
    assert!(
        sessions.iter().any(|r| r["evidence"]
            .as_str()
            .unwrap()
            .contains(&format!("port {port} from {ip}"))),
        "{rows:#}"
    );
}
