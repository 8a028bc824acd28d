#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! Scenario tests: fixture roots standing for whole hosts (`/proc` and `/sys`
//! included) run through each table and compared with expected rows.
//!
//! Each `tests/fixtures/<scenario>/` holds `root/` (the host), an optional
//! `policy.json`, and `<table>.expected.json`. Set `UPDATE_EXPECTED=1` to
//! rewrite the expected files after a deliberate change, then review the diff.
//!
//! File owners in a git checkout are whoever cloned it, so `uid` and `user`
//! of `file` evidence are masked before comparing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use postern::engine::Engine;
use postern::policy::PolicySource;
use postern::root::HostRoot;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a fixture root (links as links) so a scenario's setup can change
/// modes and times without touching the checkout.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// A scenario's host, ready to audit. `setup.json` may ask for modes
/// (`{"chmod": {"/etc/x": "666"}}`), ages (`{"age_hours": {"/var/x": 100}}`)
/// and access times (`{"atime_days": {"/usr/bin/x": 200}}`), applied to a
/// copy of the fixture.
struct Host {
    _copy: Option<tempfile::TempDir>,
    engine: Engine,
}

fn engine(scenario: &str) -> Host {
    engine_with(scenario, None)
}

/// A scenario's host audited with another policy file than its own.
fn engine_with(scenario: &str, policy_file: Option<&Path>) -> Host {
    let dir = fixture(scenario);
    let setup_path = dir.join("setup.json");
    let (root_path, copy) = if setup_path.exists() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("root");
        copy_tree(&dir.join("root"), &root);
        let setup: Value =
            serde_json::from_str(&std::fs::read_to_string(&setup_path).unwrap()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        for (path, mode) in setup["chmod"].as_object().into_iter().flatten() {
            let mode = u32::from_str_radix(mode.as_str().unwrap(), 8).unwrap();
            let p = root.join(path.trim_start_matches('/'));
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        for (path, days) in setup["atime_days"].as_object().into_iter().flatten() {
            let when =
                std::time::SystemTime::now() - Duration::from_secs(days.as_u64().unwrap() * 86_400);
            let f = std::fs::File::open(root.join(path.trim_start_matches('/'))).unwrap();
            f.set_times(std::fs::FileTimes::new().set_accessed(when))
                .unwrap();
        }
        for (path, hours) in setup["age_hours"].as_object().into_iter().flatten() {
            let when =
                std::time::SystemTime::now() - Duration::from_secs(hours.as_u64().unwrap() * 3600);
            let f = std::fs::File::open(root.join(path.trim_start_matches('/'))).unwrap();
            f.set_modified(when).unwrap();
        }
        (root, Some(temp))
    } else {
        (dir.join("root"), None)
    };
    let root = HostRoot::new(&root_path).expect("fixture root");
    let policy = policy_file.map_or_else(|| dir.join("policy.json"), Path::to_path_buf);
    let source = if policy.exists() {
        PolicySource::Explicit(policy)
    } else {
        PolicySource::Default
    };
    Host {
        _copy: copy,
        engine: Engine::new(root, source, false, Duration::from_secs(60)),
    }
}

fn masked_rows(scenario: &str, table: &str, context: &str) -> (Value, Vec<String>) {
    let result = engine(scenario)
        .engine
        .generate(table, context)
        .expect("table answers");
    let mut rows = postern::output::to_json(result.columns, &result.rows);
    if let Value::Array(rows) = &mut rows {
        for row in rows.iter_mut() {
            if row["evidence_type"] == "file" {
                row["uid"] = Value::String("<owner>".into());
                row["user"] = Value::String("<owner>".into());
            }
            // A home's configuration names the home's owner (from passwd);
            // the file's uid is the checkout's.
            if row["evidence_type"] == "config" {
                row["uid"] = Value::String("<owner>".into());
            }
            if row.get("checked_at").is_some() {
                row["checked_at"] = Value::String("<now>".into());
            }
            // Change times come from the checkout; whether a time is known
            // stays checked (`status_since_comes_from_the_host` checks values).
            if row
                .get("status_since")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
            {
                row["status_since"] = Value::String("<since>".into());
            }
            // Times and owners of files come from the checkout, not the fixture.
            let file_based = [
                "portable",
                "autostart",
                "service",
                "app",
                "flatpak",
                "snap",
                "homebrew",
            ];
            if row["source"]
                .as_str()
                .is_some_and(|s| file_based.contains(&s))
            {
                row["install_time"] = Value::String("<file time>".into());
                if row["source"] == "portable" {
                    row["installed_by"] = Value::String("<owner>".into());
                }
            }
        }
    }
    (rows, result.warnings)
}

fn check(scenario: &str, table: &str) -> Vec<String> {
    let (rows, warnings) = masked_rows(scenario, table, "");
    let expected_path = fixture(scenario).join(format!("{table}.expected.json"));
    if std::env::var("UPDATE_EXPECTED").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&rows).expect("json") + "\n";
        std::fs::write(&expected_path, text).expect("write expected");
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
    )
    .expect("expected file is JSON");
    assert_eq!(
        rows,
        expected,
        "{scenario}/{table} differs from {}; rerun with UPDATE_EXPECTED=1 if the change is deliberate",
        expected_path.display()
    );
    warnings
}

#[test]
fn laptop_farm_host() {
    let warnings = check("laptop_farm", "remote_access_tools");
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn macos_workstation_from_files() {
    let warnings = check("macos_workstation", "remote_access_tools");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("/Applications/Broken.app/Contents/Info.plist")),
        "a cut-short Info.plist is reported: {warnings:?}"
    );
}

#[test]
fn macos_controls_from_files() {
    check("macos_workstation", "security_control_health");
    let all = statuses("macos_workstation");
    for (control, status) in [
        ("edr", "pass"),
        ("macos_firewall", "pass"),
        ("gatekeeper", "pass"),
        ("macos_auto_updates", "pass"),
        ("screen_sharing", "fail"),
        ("remote_management", "fail"),
        ("remote_login", "pass"),
        ("filevault", "pass"),
        ("mdm_enrollment", "pass"),
        ("unapproved_remote_access", "fail"),
    ] {
        assert_eq!(status_of(&all, control), status, "{control}");
    }
    assert!(
        all.iter().all(|(c, _)| c != "disk_encryption"),
        "no Linux controls on a Mac"
    );
}

#[test]
fn unreadable_host_still_answers() {
    let warnings = check("unreadable_host", "remote_access_tools");
    let all = warnings.join("\n");
    assert!(all.contains("/var/lib/dpkg/status"), "{all}");
    assert!(
        all.contains("cannot read /var/lib/rpm/rpmdb.sqlite"),
        "{all}"
    );
}

#[test]
fn rpm_database_written_by_rpm() {
    let warnings = check("rpm_host", "remote_access_tools");
    assert!(warnings.is_empty(), "{warnings:?}");
}

fn statuses(scenario: &str) -> Vec<(String, String)> {
    let (rows, _) = masked_rows(scenario, "security_control_health", "");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let name = match r["product"].as_str() {
                Some(p) if !p.is_empty() => format!("{}:{p}", r["control"].as_str().unwrap()),
                _ => r["control"].as_str().unwrap().to_string(),
            };
            (name, r["status"].as_str().unwrap().to_string())
        })
        .collect()
}

fn status_of(all: &[(String, String)], control: &str) -> String {
    all.iter()
        .find(|(c, _)| c == control)
        .map(|(_, s)| s.clone())
        .unwrap_or_else(|| panic!("no {control} row in {all:?}"))
}

#[test]
fn hardened_host_passes_everything() {
    check("hardened_linux", "security_control_health");
    let all = statuses("hardened_linux");
    let not_passing: Vec<_> = all
        .iter()
        .filter(|(_, s)| s != "pass" && s != "not_applicable")
        .collect();
    assert!(not_passing.is_empty(), "{not_passing:?}");
    assert!(all.len() >= 18, "{all:?}");
}

#[test]
fn bare_host_fails_everything() {
    check("bare_linux", "security_control_health");
    let all = statuses("bare_linux");
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
        assert_eq!(status_of(&all, control), "fail", "{control}");
    }
}

#[test]
fn broken_edr_is_degraded() {
    check("edr_broken", "security_control_health");
    let all = statuses("edr_broken");
    assert_eq!(
        status_of(&all, "edr"),
        "degraded",
        "the required agent is installed, not running"
    );
    assert_eq!(status_of(&all, "edr_agent:crowdstrike_falcon"), "degraded");
    assert_eq!(
        status_of(&all, "edr_agent:clamav"),
        "degraded",
        "its signatures are 100 h old"
    );
}

#[test]
fn edr_running_but_not_enabled_at_boot_is_degraded() {
    check("edr_not_enabled", "security_control_health");
    let all = statuses("edr_not_enabled");
    assert_eq!(status_of(&all, "edr"), "degraded");
    assert_eq!(status_of(&all, "edr_agent:crowdstrike_falcon"), "degraded");
}

#[test]
fn tampered_and_unreadable_evidence_never_passes() {
    check("tampered_host", "security_control_health");
    let all = statuses("tampered_host");
    assert_eq!(
        status_of(&all, "postern_policy"),
        "fail",
        "a world-writable policy is refused"
    );
    for control in [
        "ssh_root_login",
        "ssh_password_auth",
        "screen_lock",
        "disk_encryption",
        "secure_boot",
    ] {
        assert_eq!(status_of(&all, control), "unknown", "{control}");
    }
    // The refused policy requires nothing and approves nothing.
    let (rows, _) = masked_rows("tampered_host", "security_control_health", "");
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["required"] == "0"));
}

#[test]
fn software_that_arrived_after_enrollment() {
    let warnings = check("onboarded_laptop", "new_software_since_enrollment");
    let all = warnings.join("\n");
    assert!(
        all.contains("dpkg.log.3.gz"),
        "a gzip cut short is reported: {all}"
    );
    assert!(
        all.contains("Profile 1/Preferences"),
        "a garbled profile is reported: {all}"
    );
    let (rows, _) = masked_rows("onboarded_laptop", "new_software_since_enrollment", "");
    let rows = rows.as_array().unwrap();
    let find = |name: &str| {
        rows.iter()
            .find(|r| r["name"].as_str().unwrap().starts_with(name))
    };
    let anydesk = find("anydesk").unwrap();
    assert_eq!(anydesk["installed_by"], "bob");
    assert_eq!(anydesk["remote_access_tool"], "anydesk");
    assert_eq!(anydesk["install_time"], "1770156600");
    assert_eq!(anydesk["in_baseline"], "0");
    assert_eq!(anydesk["enrollment_source"], "policy");
    assert_eq!(find("tailscale").unwrap()["managed"], "1");
    assert_eq!(
        find("Chrome Remote Desktop").unwrap()["remote_access_tool"],
        "chrome_remote_desktop"
    );
    assert_eq!(
        find("rustdesk-1.3.2").unwrap()["remote_access_tool"],
        "rustdesk"
    );
    assert!(
        find("rustdesk-1.3.2").unwrap()["sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    assert!(find("Easy Screen Share").is_some(), "Firefox add-on");
    assert_eq!(find("ngrok").unwrap()["source"], "snap");
    assert_eq!(
        find("com.rustdesk.RustDesk").unwrap()["installed_by"],
        "bob",
        "per-user flatpak"
    );
    for before in [
        "coreutils",
        "google-chrome-stable",
        "Google Docs Offline",
        "Chrome PDF Viewer",
        "notes.txt",
        "setup.sh",
    ] {
        assert!(find(before).is_none(), "{before} is not new");
    }
}

#[test]
fn macos_software_from_files() {
    check("macos_workstation", "new_software_since_enrollment");
    let (rows, _) = masked_rows("macos_workstation", "new_software_since_enrollment", "");
    let rows = rows.as_array().unwrap();
    let find = |name: &str| rows.iter().find(|r| r["name"] == name);
    assert_eq!(find("cloudflared").unwrap()["source"], "homebrew");
    // A formula's install time comes from its receipt, not from file times.
    let host = engine("macos_workstation");
    let result = host
        .engine
        .generate("new_software_since_enrollment", "")
        .unwrap();
    let unmasked = postern::output::to_json(result.columns, &result.rows);
    let formula = unmasked
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "cloudflared")
        .unwrap()
        .clone();
    assert_eq!(formula["install_time"], "1769990400");
    assert_eq!(find("rustdesk (cask)").unwrap()["version"], "1.3.7");
    assert_eq!(
        find("com.philandro.anydesk").unwrap()["remote_access_tool"],
        "anydesk"
    );
    assert_eq!(
        find("com.philandro.anydesk").unwrap()["enrollment_source"],
        "policy"
    );
    assert!(
        rows.iter()
            .all(|r| !r["path"].as_str().unwrap().contains(".app/")),
        "no executables from inside bundles"
    );
}

#[test]
fn constraints_narrow_the_work_and_the_rows() {
    let pid_only =
        r#"{"constraints":[{"name":"pid","list":[{"op":2,"expr":"2201"}],"affinity":"BIGINT"}]}"#;
    let (rows, _) = masked_rows("laptop_farm", "remote_access_tools", pid_only);
    let rows = rows.as_array().expect("array").clone();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["pid"] == "2201"), "{rows:?}");
    let kinds: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["evidence_type"].as_str())
        .collect();
    assert_eq!(kinds, ["listening_port", "process"]);

    let by_type = r#"{"constraints":[{"name":"evidence_type","list":[{"op":2,"expr":"usb_device"}],"affinity":"TEXT"}]}"#;
    let (rows, _) = masked_rows("laptop_farm", "remote_access_tools", by_type);
    let rows = rows.as_array().expect("array").clone();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["tool_id"], "pikvm");

    let by_tool = r#"{"constraints":[{"name":"tool_id","list":[{"op":2,"expr":"tailscale"}],"affinity":"TEXT"}]}"#;
    let (rows, _) = masked_rows("laptop_farm", "remote_access_tools", by_tool);
    let rows = rows.as_array().expect("array").clone();
    assert!(rows.len() >= 3);
    assert!(rows
        .iter()
        .all(|r| r["tool_id"] == "tailscale" && r["approved"] == "1" && r["severity"] == "info"));
}

#[test]
fn garbage_context_is_an_error_not_a_crash() {
    let err = engine("laptop_farm")
        .engine
        .generate("remote_access_tools", "{not json")
        .err();
    assert!(err.is_some_and(|e| e.to_string().contains("malformed query context")));
    let err = engine("laptop_farm")
        .engine
        .generate("no_such_table", "")
        .err();
    assert!(err.is_some_and(|e| e.to_string().contains("no_such_table")));
}

#[test]
fn cut_short_binary_plists_are_unknown_not_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let write = |path: &str, bytes: &[u8]| {
        let p = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    let mut alf = Vec::new();
    plist::Value::Dictionary(plist::Dictionary::from_iter([(
        "globalstate".to_string(),
        plist::Value::Integer(1.into()),
    )]))
    .to_writer_binary(&mut alf)
    .unwrap();
    write(
        "/System/Library/CoreServices/SystemVersion.plist",
        b"<plist version=\"1.0\"><dict/></plist>",
    );
    write(
        "/Library/Preferences/com.apple.alf.plist",
        &alf[..alf.len() / 2],
    );
    write("/var/db/SystemPolicy-prefs.plist", b"\x00garbage");
    let engine = Engine::new(
        HostRoot::new(root).unwrap(),
        PolicySource::Default,
        false,
        Duration::from_secs(10),
    );
    let result = engine.generate("security_control_health", "").unwrap();
    let rows = postern::output::to_json(result.columns, &result.rows);
    let status = |control: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["control"] == control)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("macos_firewall"), "unknown");
    assert_eq!(status("gatekeeper"), "unknown");
}

#[test]
fn signed_executables_in_the_macos_fixture_are_what_the_parser_expects() {
    // The Mach-O files of renamed bundles in the fixture are the ones
    // postern's own builder makes, so the fixture and the parser agree.
    let root = fixture("macos_workstation").join("root/Applications");
    for (file, identifier, team) in [
        (
            "Utilities/Disk Helper.app/Contents/MacOS/Disk Helper",
            "com.teamviewer.TeamViewer",
            "H7UGFBUGV6",
        ),
        (
            "Sync Agent.app/Contents/MacOS/SyncAgent",
            "com.example.syncagent",
            "KHRWM533LU",
        ),
        (
            "Notes Plus.app/Contents/MacOS/NotesPlus",
            "com.example.notesplus",
            "ABCDE12345",
        ),
    ] {
        let bytes = std::fs::read(root.join(file)).expect(file);
        assert_eq!(
            bytes,
            postern::host::macho::test_binary(identifier, Some(team)),
            "{file}"
        );
    }
}

fn since_of(scenario: &str, control: &str, product: Option<&str>) -> Option<i64> {
    let (rows, _) = masked_rows_unmasked(scenario);
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["control"] == control && product.is_none_or(|p| r["product"] == p))
        .unwrap_or_else(|| panic!("{scenario}: no {control} row"))["status_since"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
}

fn masked_rows_unmasked(scenario: &str) -> (Value, Vec<String>) {
    let result = engine(scenario)
        .engine
        .generate("security_control_health", "")
        .expect("table answers");
    (
        postern::output::to_json(result.columns, &result.rows),
        result.warnings,
    )
}

fn ctime(path: &Path) -> i64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).unwrap().ctime()
}

#[test]
fn status_since_comes_from_the_host() {
    // hardened_linux: booted at 1767571200 (/proc/stat btime); falcon-sensor
    // started 123456 s later (12345600 ticks of 1/100 s), auditd 5 s later.
    let boot = 1_767_571_200;
    let s = |control| since_of("hardened_linux", control, None);
    assert_eq!(
        since_of("hardened_linux", "edr_agent", Some("crowdstrike_falcon")),
        Some(boot + 123_456)
    );
    assert_eq!(
        s("edr"),
        Some(boot + 123_456),
        "passing since the agent started"
    );
    assert_eq!(s("audit_daemon"), Some(boot + 5));
    for control in ["mac", "secure_boot", "kernel_lockdown"] {
        assert_eq!(
            s(control),
            Some(boot),
            "{control}: kernel state, set at boot"
        );
    }
    // Configuration: the latest change of the files that decide it.
    let root = fixture("hardened_linux").join("root");
    let sshd = ctime(&root.join("etc/ssh/sshd_config"));
    let ssh = s("ssh_root_login").unwrap();
    assert!(ssh >= sshd, "{ssh} {sshd}");
    // Nothing on the host tells when a disk was encrypted.
    assert_eq!(s("disk_encryption"), None);
    // No process start times without /proc/PID/stat: NULL, not a guess.
    assert_eq!(s("time_sync"), None);
}

#[test]
fn a_stale_agent_is_broken_since_its_status_file_went_past_the_limit() {
    // edr_broken: ClamAV runs, but its database was last updated 100 hours
    // ago against a 48-hour limit: degraded for the last 52 hours.
    let since = since_of("edr_broken", "edr_agent", Some("clamav")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let age = now - since;
    assert!((51 * 3600..=53 * 3600).contains(&age), "{age}");
}

/// A table's rows as JSON objects.
fn json_rows(result: &postern::engine::TableResult) -> Vec<Value> {
    match postern::output::to_json(result.columns, &result.rows) {
        Value::Array(rows) => rows,
        other => panic!("{other}"),
    }
}

/// An engine over a host image built by the test.
fn image_engine(root: &Path, policy: PolicySource) -> Engine {
    Engine::new(
        HostRoot::new(root).unwrap(),
        policy,
        false,
        Duration::from_secs(60),
    )
}

fn hygiene_rows(scenario: &str, context: &str) -> (Vec<Value>, Vec<String>) {
    let result = engine(scenario)
        .engine
        .generate("software_hygiene", context)
        .expect("table answers");
    (json_rows(&result), result.warnings)
}

#[test]
fn software_hygiene_on_a_debian_host() {
    let (rows, warnings) = hygiene_rows("hygiene_debian", "");
    let row = |name: &str| -> &Value {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))
    };
    // The operating system: Debian 11's LTS ended 2026-08-31.
    let os = row("Debian GNU/Linux 11 (bullseye)");
    assert_eq!(
        (os["source"].as_str(), os["eol"].as_str()),
        (Some("os"), Some("1"))
    );
    assert_eq!(os["eol_date"], "2026-08-31");
    // A security pocket (LZ4 list), an updates pocket (gzip list).
    let openssl = row("openssl");
    assert_eq!(openssl["outdated"], "1");
    assert_eq!(openssl["security_update"], "1");
    assert_eq!(openssl["latest_version"], "1.1.1w-0+deb11u2");
    assert_eq!(openssl["outdated_source"], "apt (oldoldstable-security)");
    assert!(openssl["reason"]
        .as_str()
        .unwrap()
        .contains("outdated: 1.1.1w-0+deb11u1 → 1.1.1w-0+deb11u2 (security)"));
    let tzdata = row("tzdata");
    assert_eq!(
        (
            tzdata["outdated"].as_str(),
            tzdata["security_update"].as_str()
        ),
        (Some("1"), Some("0"))
    );
    // Version order: a tilde sorts first, an epoch last.
    assert_eq!(row("libfoo")["outdated"], "1");
    assert_eq!(row("epochpkg")["outdated"], "0");
    // Backports: no candidate for a package from the release, the upgrade
    // for one installed from backports; held packages are still outdated.
    assert_eq!(row("curl")["outdated"], "0");
    assert_eq!(row("tool")["latest_version"], "5.1~bpo11+1");
    assert_eq!(row("heldpkg")["outdated"], "1");
    // A pin (600) for NodeSource; Node.js 20's upstream end of life applies
    // to NodeSource's package, Debian's end to Debian's own python3.9.
    let node = row("nodejs");
    assert_eq!(node["latest_version"], "20.20.2-1nodesource1");
    assert_eq!(
        (node["eol"].as_str(), node["eol_date"].as_str()),
        (Some("1"), Some("2026-04-30"))
    );
    let py = row("python3.9");
    assert_eq!(
        (py["eol"].as_str(), py["eol_date"].as_str()),
        (Some("1"), Some("2026-08-31"))
    );
    let esr = row("firefox-esr");
    assert_eq!(
        (esr["eol"].as_str(), esr["outdated"].as_str()),
        (Some("1"), Some("1"))
    );
    // Nothing offers it: unknown, not up to date.
    let local = row("localpkg");
    assert_eq!(
        (local["outdated"].as_str(), local["managed"].as_str()),
        (Some(""), Some("1"))
    );
    assert!(rows
        .iter()
        .all(|r| r["name"] != "removed" && r["name"] != "notinstalled"));
    // Two VPN clients, two remote access tools: each redundant with the other.
    for (a, b, f) in [
        ("wireguard", "openvpn", "vpn"),
        ("anydesk", "teamviewer", "remote_access"),
    ] {
        assert_eq!(row(a)["function"], f);
        assert_eq!(row(a)["redundant_with"], b);
        assert_eq!(row(b)["redundant_with"], a);
    }
    assert!(row("anydesk")["reason"]
        .as_str()
        .unwrap()
        .contains("redundant with teamviewer"));
    // Last used: the program's access time (the mount records them).
    let openvpn = row("openvpn");
    assert_eq!(openvpn["unused_days"], "200");
    assert!(openvpn["reason"]
        .as_str()
        .unwrap()
        .contains("not used for 200 days"));
    assert_eq!(row("curl")["unused_days"], "3");
    assert_eq!(row("curl")["reason"], "");
    // GIMP's program was last read 400 days ago, but the desktop's
    // recently-used list says Alice opened a picture with it on 2026-06-03.
    assert_eq!(row("gimp")["last_used"], "1780504802");
    // Lists it cannot use are said, not guessed from.
    let all = warnings.join("\n");
    assert!(
        all.contains("Packages.xz: compression not read here"),
        "{all}"
    );
    assert!(
        all.contains("orphan.example") && all.contains("no Release file"),
        "{all}"
    );
}

#[test]
fn software_hygiene_constraints_save_work_and_hold() {
    let (rows, _) = hygiene_rows(
        "hygiene_debian",
        r#"{"constraints":[{"name":"outdated","list":[{"op":2,"expr":"1"}],"affinity":"INTEGER"}]}"#,
    );
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["outdated"] == "1"), "{rows:?}");
    let (rows, _) = hygiene_rows(
        "hygiene_debian",
        r#"{"constraints":[{"name":"source","list":[{"op":2,"expr":"os"}],"affinity":"TEXT"}]}"#,
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["source"], "os");
}

#[test]
fn software_hygiene_follows_the_policy_s_functions() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"software":{"functions":{"vpn":{"approved":"wireguard"},"remote_access":{"several":true}}}}"#,
    )
    .unwrap();
    let result = engine_with("hygiene_debian", Some(&policy))
        .engine
        .generate("software_hygiene", "")
        .unwrap();
    let rows = postern::output::to_json(result.columns, &result.rows);
    let row = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(row("wireguard")["redundant_with"], "", "the approved VPN");
    assert_eq!(row("openvpn")["redundant_with"], "wireguard");
    assert_eq!(row("anydesk")["redundant_with"], "", "several allowed");
}

#[test]
fn pending_security_updates_are_remembered_since_first_seen() {
    // Written only to a state directory named by the caller (or the live
    // machine's): an audited image is not written to.
    let state = tempfile::tempdir().unwrap();
    let mut host = engine("hygiene_debian");
    host.engine = host.engine.with_state_dir(state.path());
    let since = |host: &Host| -> (String, String) {
        let result = host.engine.generate("software_hygiene", "").unwrap();
        let rows = postern::output::to_json(result.columns, &result.rows);
        let get = |name: &str| {
            rows.as_array()
                .unwrap()
                .iter()
                .find(|r| r["name"] == name)
                .unwrap()["security_pending_since"]
                .as_str()
                .unwrap()
                .to_string()
        };
        (get("openssl"), get("tzdata"))
    };
    let (openssl, tzdata) = since(&host);
    assert!(!openssl.is_empty(), "a pending security update has a time");
    assert_eq!(tzdata, "", "not a security update");
    std::thread::sleep(Duration::from_millis(1100));
    let (again, _) = since(&host);
    assert_eq!(again, openssl, "the first sighting is kept");
    assert!(state.path().join("pending_updates.json").exists());
    // The image's own state directory was not written to, and without kept
    // state the time is unknown (NULL), not "now".
    let image = engine("hygiene_debian");
    assert_eq!(since(&image).0, "");
    assert!(!image
        .engine
        .root()
        .path("/var/lib/postern/pending_updates.json")
        .exists());
}

/// A Rocky Linux host: dnf and dnf5 caches (gzip, zstd and plain primary
/// lists), a security advisory list, a disabled repository, a cache left
/// behind by a repository no longer configured, and dnf.conf's exclude.
#[test]
fn software_hygiene_on_an_rpm_host() {
    let (rows, warnings) = hygiene_rows("hygiene_rpm", "");
    assert!(warnings.iter().all(|w| w.contains("/proc")), "{warnings:?}");
    let rows_named =
        |name: &str| -> Vec<&Value> { rows.iter().filter(|r| r["name"] == name).collect() };
    let row = |name: &str| -> &Value {
        rows_named(name)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no row {name}: {rows:?}"))
    };
    let os = row("Rocky Linux 9.4 (Blue Onyx)");
    assert_eq!(
        (os["eol"].as_str(), os["eol_date"].as_str()),
        (Some("0"), Some("2032-05-31"))
    );
    // A security advisory (updateinfo) for the version the repository
    // offers; the i686 and source builds do not count for an x86_64 package.
    let openssl = row("openssl");
    assert_eq!(openssl["latest_version"], "1:3.0.7-27.el9");
    assert_eq!(
        (
            openssl["outdated"].as_str(),
            openssl["security_update"].as_str()
        ),
        (Some("1"), Some("1"))
    );
    assert_eq!(openssl["outdated_source"], "dnf (baseos)");
    // Kernels are installed side by side: both compare with the newest.
    let kernels = rows_named("kernel");
    assert_eq!(kernels.len(), 2);
    assert!(kernels
        .iter()
        .all(|k| k["latest_version"] == "5.14.0-503.15.1.el9_5" && k["security_update"] == "1"));
    // A bug fix is no security update; noarch updates noarch.
    let tz = row("tzdata");
    assert_eq!(
        (tz["outdated"].as_str(), tz["security_update"].as_str()),
        (Some("1"), Some("0"))
    );
    // The zstd list of appstream, with an epoch.
    let vim = row("vim-enhanced");
    assert_eq!(vim["latest_version"], "2:8.2.2637-21.el9");
    assert_eq!(vim["outdated_source"], "dnf (appstream)");
    // The disabled crb repository's newer bash is not offered.
    assert_eq!(row("bash")["outdated"], "0");
    // The orphaned cache's anydesk 9 does not count; anydesk's own (dnf5)
    // repository has nothing newer.
    assert_eq!(row("anydesk")["outdated"], "0");
    assert_eq!(row("anydesk")["latest_version"], "6.3.2-1");
    // dnf.conf excludes tailscale: nothing offers it, so unknown.
    assert_eq!(row("tailscale")["outdated"], "");
    // `outdated = 1` narrows to the RPM packages that are.
    let (only, _) = hygiene_rows(
        "hygiene_rpm",
        r#"{"constraints":[{"name":"outdated","list":[{"op":2,"expr":"1"}],"affinity":"INTEGER"}]}"#,
    );
    let mut names: Vec<&str> = only.iter().map(|r| r["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["kernel", "kernel", "openssl", "tzdata", "vim-enhanced"]
    );
}

/// The repository caches are root's, but a broken or hostile one (a FIFO
/// for a list, garbage, a repomd naming files outside) costs a warning,
/// never a hang or the other repositories' answers.
#[test]
fn broken_rpm_repository_caches_cost_a_warning() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    copy_tree(&fixture("hygiene_rpm").join("root"), &root);
    let base = root.join("var/cache/dnf/baseos-0123456789abcdef/repodata");
    std::fs::remove_file(base.join("aa11-primary.xml.gz")).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        base.join("aa11-primary.xml.gz"),
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
    std::fs::write(base.join("bb22-updateinfo.xml.gz"), b"\x1f\x8b garbage").unwrap();
    let app = root.join("var/cache/dnf/appstream-fedcba9876543210/repodata");
    std::fs::write(app.join("dd44-primary.xml.zst"), b"not zstd at all").unwrap();
    let engine = image_engine(&root, PolicySource::Default);
    let result = engine.generate("software_hygiene", "").unwrap();
    let rows = json_rows(&result);
    let all = result.warnings.join("\n");
    assert!(all.contains("not a regular file"), "{all}");
    assert!(all.contains("appstream"), "{all}");
    let of = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(of("openssl")["outdated"], "");
    assert_eq!(of("vim-enhanced")["outdated"], "");
    assert_eq!(of("anydesk")["outdated"], "0");
}

/// A macOS host: Homebrew's API cache (the newest of the homes'), casks
/// that update themselves, Firefox's downloaded update, an end-of-life
/// macOS, and per-app recent documents for last use.
#[test]
fn software_hygiene_on_a_macos_host() {
    let (rows, warnings) = hygiene_rows("hygiene_macos", "");
    let row = |name: &str| -> &Value {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows:?} {warnings:?}"))
    };
    let os = row("macOS 13.7.1");
    assert_eq!(
        (os["eol"].as_str(), os["eol_date"].as_str()),
        (Some("1"), Some("2025-09-15"))
    );
    // Formulae: the newest keg against the API's version and revision.
    let wget = row("wget");
    assert_eq!(
        (wget["outdated"].as_str(), wget["latest_version"].as_str()),
        (Some("1"), Some("1.25.0"))
    );
    assert_eq!(wget["outdated_source"], "homebrew (API cache)");
    assert_eq!(wget["security_update"], "0");
    let openssl = row("openssl@3");
    assert_eq!(
        (openssl["version"].as_str(), openssl["outdated"].as_str()),
        (Some("3.4.0_1"), Some("0"))
    );
    assert_eq!(row("jq")["outdated"], "0");
    // Casks: a different version is outdated; one that updates itself is
    // unknown, as brew leaves it alone too.
    assert_eq!(row("anydesk (cask)")["latest_version"], "9.0.1");
    assert_eq!(row("anydesk (cask)")["outdated"], "1");
    assert_eq!(row("google-chrome (cask)")["outdated"], "");
    assert_eq!(row("obs (cask)")["outdated"], "0");
    // Firefox downloaded 133.0 and waits for a restart.
    let firefox = row("org.mozilla.firefox");
    assert_eq!(firefox["latest_version"], "133.0");
    assert_eq!(firefox["outdated"], "1");
    assert!(firefox["outdated_source"]
        .as_str()
        .unwrap()
        .starts_with("firefox"));
    // Last use from the per-app recent documents: Zoom 150 days ago,
    // Word two days ago (bundle ids match whatever their case).
    assert_eq!(row("us.zoom.xos")["unused_days"], "150");
    assert!(row("us.zoom.xos")["reason"]
        .as_str()
        .unwrap()
        .contains("not used for 150 days"));
    assert_eq!(row("com.microsoft.Word")["unused_days"], "2");
}

/// zypper's raw cache (openSUSE) and yum's unpacked SQLite list (RHEL 7),
/// on the same RPM database.
#[test]
fn zypper_and_yum_repository_caches() {
    use std::io::Write as _;
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path().join("root");
    copy_tree(
        &fixture("hygiene_rpm").join("root/var/lib/rpm"),
        &root.join("var/lib/rpm"),
    );
    let write = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    let repomd = |primary: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="{primary}"><location href="repodata/abc-{primary}.{}"/></data></repomd>"#,
            if primary == "primary" {
                "xml.gz"
            } else {
                "sqlite.bz2"
            }
        )
    };
    // zypper: repo-oss, enabled, offers a newer bash.
    write("etc/zypp/repos.d/repo-oss.repo", b"[repo-oss]\nname=Main Repository\nenabled=1\nautorefresh=1\nbaseurl=http://download.opensuse.org/distribution/leap/15.6/repo/oss/\ntype=rpm-md\n");
    write(
        "var/cache/zypp/raw/repo-oss/repodata/repomd.xml",
        repomd("primary").as_bytes(),
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(br#"<metadata xmlns="http://linux.duke.edu/metadata/common"><package type="rpm"><name>bash</name><arch>x86_64</arch><version epoch="0" ver="5.2.15" rel="150600.1.1"/></package></metadata>"#).unwrap();
    write(
        "var/cache/zypp/raw/repo-oss/repodata/abc-primary.xml.gz",
        &gz.finish().unwrap(),
    );
    // yum: the base repository's SQLite list, as yum unpacks it into gen/.
    write(
        "etc/yum.repos.d/CentOS-Base.repo",
        b"[base]\nname=CentOS-7 - Base\nenabled=1\n",
    );
    write(
        "var/cache/yum/x86_64/7/base/repomd.xml",
        repomd("primary_db").as_bytes(),
    );
    let db_path = root.join("var/cache/yum/x86_64/7/base/gen/primary_db.sqlite");
    std::fs::create_dir_all(db_path.parent().unwrap()).unwrap();
    {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.execute_batch(
            "CREATE TABLE packages (pkgKey INTEGER PRIMARY KEY, pkgId TEXT, name TEXT, arch TEXT, version TEXT, epoch TEXT, release TEXT);
             INSERT INTO packages (name, arch, version, epoch, release) VALUES ('tzdata', 'noarch', '2025a', '0', '1.el7');
             INSERT INTO packages (name, arch, version, epoch, release) VALUES ('openssl', 'x86_64', '3.0.7', '1', '24.el9');",
        )
        .unwrap();
    }
    let engine = image_engine(&root, PolicySource::Default);
    let result = engine.generate("software_hygiene", "").unwrap();
    let rows = json_rows(&result);
    let of = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(
        of("bash")["latest_version"],
        "5.2.15-150600.1.1",
        "{:?}",
        result.warnings
    );
    assert_eq!(of("bash")["outdated_source"], "zypper (repo-oss)");
    assert_eq!(of("tzdata")["latest_version"], "2025a-1.el7");
    assert_eq!(of("tzdata")["outdated_source"], "yum (base)");
    assert_eq!(of("openssl")["outdated"], "0");
    assert_eq!(of("vim-enhanced")["outdated"], "");
}

fn farm_rows(scenario: &str) -> (Vec<Value>, Vec<String>) {
    let result = engine(scenario)
        .engine
        .generate("laptop_farm_signals", "")
        .expect("table answers");
    (json_rows(&result), result.warnings)
}

fn signal<'a>(rows: &'a [Value], id: &str) -> Vec<&'a Value> {
    rows.iter().filter(|r| r["signal"] == id).collect()
}

fn score(rows: &[Value]) -> (i64, String) {
    let s = signal(rows, "score");
    assert_eq!(s.len(), 1, "{rows:?}");
    (
        s[0]["weight"].as_str().unwrap().parse().unwrap(),
        s[0]["status"].as_str().unwrap().to_string(),
    )
}

/// The honest remote employee: an approved VPN, a US time zone, locale and
/// layout, the distribution's input method engines, the laptop open and on
/// battery, an SSH session: nothing to look at.
#[test]
fn an_honest_remote_employee_scores_below_the_threshold() {
    let (rows, warnings) = farm_rows("farm_honest");
    assert_eq!(
        score(&rows),
        (0, "clear".to_string()),
        "{rows:#?} {warnings:?}"
    );
    assert_eq!(rows.len(), 1, "only the score row: {rows:#?}");
}

/// The farm laptop: lid closed with HDMI connected while a session is
/// active, always on AC, Astrill, a Korean input method and layout, an
/// IP-KVM, an HDMI capture stick, a programmable HID board, AnyDesk and an
/// inbound VNC session.
#[test]
fn a_farm_laptop_scores_over_the_threshold() {
    let (rows, _) = farm_rows("laptop_farm");
    let (total, verdict) = score(&rows);
    assert_eq!(verdict, "investigate");
    assert!(total >= 200, "{total}");
    let weight = |id: &str| -> Vec<&str> {
        signal(&rows, id)
            .iter()
            .map(|r| r["weight"].as_str().unwrap())
            .collect()
    };
    assert_eq!(weight("timezone"), ["15"]);
    assert_eq!(signal(&rows, "timezone")[0]["observed"], "Asia/Seoul");
    assert_eq!(weight("keyboard_layout"), ["15"]);
    assert_eq!(weight("input_method_configured"), ["20"]);
    assert_eq!(signal(&rows, "consumer_vpn")[0]["observed"], "astrill");
    assert_eq!(weight("consumer_vpn"), ["30"]);
    assert_eq!(weight("ip_kvm"), ["40"]);
    assert_eq!(
        signal(&rows, "capture_device")[0]["observed"],
        "macrosilicon_ms2109"
    );
    assert_eq!(weight("programmable_hid_board"), ["10"]);
    // The PiKVM's gadget identity is the IP-KVM's row, not a second one.
    assert!(signal(&rows, "usb_gadget").is_empty());
    assert_eq!(weight("lid_closed_external_display"), ["20"]);
    assert_eq!(weight("always_on_ac"), ["10"]);
    assert_eq!(weight("sleep_disabled"), ["10"]);
    assert_eq!(weight("long_uptime"), ["10"]);
    assert_eq!(weight("keep_awake_software"), ["15"]);
    // An inbound VNC connection while bob's local session is active.
    assert_eq!(weight("remote_session"), ["25"]);
    assert!(signal(&rows, "remote_access_tool")
        .iter()
        .any(|r| r["observed"] == "anydesk"));
    // Tailscale is approved by the policy: no remote access row.
    assert!(!rows.iter().any(|r| r["observed"] == "tailscale"));
    assert!(rows.iter().all(|r| r["status"] != "unknown"), "{rows:#?}");
}

/// The macOS variant, from files: the time zone link, global preferences,
/// HIToolbox input sources, bundles, power management; what macOS keeps
/// only in the I/O Registry is unknown, not 0.
#[test]
fn a_macos_farm_laptop_from_files() {
    let (rows, _) = farm_rows("farm_macos");
    let (total, verdict) = score(&rows);
    assert_eq!((total, verdict.as_str()), (110, "investigate"));
    for (id, observed) in [
        ("timezone", "Asia/Shanghai"),
        ("language", "zh"),
        ("input_method_configured", "zh"),
        ("consumer_vpn", "astrill"),
        ("keep_awake_software", "keepingyouawake"),
        ("remote_access_tool", "anydesk"),
    ] {
        assert_eq!(signal(&rows, id)[0]["observed"], observed, "{id}");
    }
    for id in [
        "capture_device",
        "lid_closed_external_display",
        "always_on_ac",
        "long_uptime",
        "virtual_input_device",
    ] {
        let r = signal(&rows, id);
        assert_eq!(
            (r[0]["status"].as_str(), r[0]["weight"].as_str()),
            (Some("unknown"), Some("")),
            "{id}"
        );
    }
}

/// Without an assignment in the policy there is no drift signal, whatever
/// the host's time zone.
#[test]
fn no_assignment_no_drift() {
    let host = engine_with(
        "laptop_farm",
        Some(&fixture("laptop_farm").join("missing-policy.json")),
    );
    let result = host.engine.generate("laptop_farm_signals", "").unwrap();
    let rows = json_rows(&result);
    assert!(signal(&rows, "timezone").is_empty());
    assert!(signal(&rows, "keyboard_layout").is_empty());
    assert!(signal(&rows, "score")[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("no assignment in the policy"));
}

/// Every source missing or unreadable (a FIFO, a directory where a file
/// should be): each signal it feeds is unknown with a NULL weight, the
/// score says what was not checked, and nothing blocks.
#[test]
fn unreadable_sources_are_unknown_not_zero() {
    let temp = tempfile::tempdir().unwrap();
    let root = temp.path();
    let write = |rel: &str, data: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    let fifo = |rel: &str| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o644)).unwrap();
    };
    write(
        "etc/postern/policy.json",
        r#"{"assignment": {"countries": ["US"], "languages": ["en"]}}"#,
    );
    write("sys/class/power_supply/BAT0/type", "Battery\n");
    fifo("etc/timezone");
    fifo("etc/default/locale");
    fifo("etc/default/keyboard");
    fifo("proc/acpi/button/lid/LID0/state");
    fifo("proc/bus/input/devices");
    std::fs::create_dir_all(root.join("proc/uptime")).unwrap();
    write("sys/bus/usb/devices", "not a directory\n");
    let engine = image_engine(
        root,
        PolicySource::Explicit(root.join("etc/postern/policy.json")),
    );
    let started = std::time::Instant::now();
    let result = engine.generate("laptop_farm_signals", "").unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let rows = json_rows(&result);
    for id in [
        "timezone",
        "language",
        "keyboard_layout",
        "lid_closed_external_display",
        "always_on_ac",
        "long_uptime",
        "capture_device",
        "jiggler_device",
        "virtual_input_device",
    ] {
        let r = signal(&rows, id);
        assert_eq!(r.len(), 1, "{id}: {rows:#?}");
        assert_eq!(
            (r[0]["status"].as_str(), r[0]["weight"].as_str()),
            (Some("unknown"), Some("")),
            "{id}"
        );
    }
    let (total, verdict) = score(&rows);
    assert_eq!((total, verdict.as_str()), (0, "clear"));
    assert!(signal(&rows, "score")[0]["evidence"]
        .as_str()
        .unwrap()
        .contains("not checked"));
    // A bare host: nothing to read, nothing guessed.
    let bare = tempfile::tempdir().unwrap();
    let engine = image_engine(bare.path(), PolicySource::Default);
    let result = engine.generate("laptop_farm_signals", "").unwrap();
    let rows = json_rows(&result);
    assert_eq!(score(&rows), (0, "clear".to_string()));
    assert!(signal(&rows, "lid_closed_external_display")[0]["status"] == "unknown");
}

/// Constraints on signal, category and status hold.
#[test]
fn laptop_farm_constraints() {
    let host = engine("laptop_farm");
    let result = host
        .engine
        .generate(
            "laptop_farm_signals",
            r#"{"constraints":[{"name":"signal","list":[{"op":2,"expr":"score"}],"affinity":"TEXT"}]}"#,
        )
        .unwrap();
    assert_eq!(result.rows.len(), 1);
    assert_eq!(result.rows[0][2].as_deref(), Some("investigate"));
    let result = host
        .engine
        .generate(
            "laptop_farm_signals",
            r#"{"constraints":[{"name":"category","list":[{"op":2,"expr":"hardware"}],"affinity":"TEXT"}]}"#,
        )
        .unwrap();
    assert!(result
        .rows
        .iter()
        .all(|r| r[1].as_deref() == Some("hardware")));
    assert!(result.rows.len() >= 3);
}
