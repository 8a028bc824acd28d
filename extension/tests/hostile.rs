#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

//! The host as the person postern watches would leave it: FIFOs where the
//! tables read a user's files, floods of files, links out of a disk image.
//! Each case is a whole image built in a temporary directory and audited
//! through `--root` semantics ([`HostRoot::new`]); nothing on this machine
//! is touched. The live-host versions run in a private mount namespace in
//! the end-to-end tests (`tests/e2e/test_hostile_host.py`).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use postern::engine::{Engine, TableResult};
use postern::policy::PolicySource;
use postern::root::HostRoot;

const TABLES: &[&str] = &[
    "remote_access_tools",
    "security_control_health",
    "new_software_since_enrollment",
    "software_hygiene",
    "laptop_farm_signals",
];

/// An image with one user, `mallory`, and a policy that dates enrollment
/// in the past (so new software has an enrollment time to compare with).
struct Image {
    dir: tempfile::TempDir,
}

impl Image {
    fn new() -> Image {
        let image = Image {
            dir: tempfile::tempdir().unwrap(),
        };
        image.write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nmallory:x:1000:1000::/home/mallory:/bin/bash\n",
        );
        image.mkdir("/home/mallory");
        image.mkdir("/tmp");
        image.write(
            "/etc/postern/policy.json",
            r#"{"enrollment": {"time": "2024-01-01T00:00:00Z"}}"#,
        );
        image
    }

    fn path(&self, host_path: &str) -> PathBuf {
        self.dir.path().join(host_path.trim_start_matches('/'))
    }

    fn mkdir(&self, host_path: &str) {
        fs::create_dir_all(self.path(host_path)).unwrap();
    }

    fn write(&self, host_path: &str, text: &str) {
        let p = self.path(host_path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
    }

    /// A small real ELF executable (a copy of `true`) at `host_path`.
    fn executable(&self, host_path: &str) {
        let p = self.path(host_path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::copy("/bin/true", &p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn fifo(&self, host_path: &str) {
        let p = self.path(host_path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        assert!(Command::new("mkfifo").arg(&p).status().unwrap().success());
    }

    /// `count` empty files named by `name(i)` in `host_dir`.
    fn flood(&self, host_dir: &str, count: usize, name: impl Fn(usize) -> String) {
        let dir = self.path(host_dir);
        fs::create_dir_all(&dir).unwrap();
        for i in 0..count {
            fs::File::create(dir.join(name(i))).unwrap();
        }
    }

    fn engine(&self) -> Engine {
        let root = HostRoot::new(self.dir.path()).unwrap();
        Engine::new(root, PolicySource::Default, false, Duration::from_secs(30))
            .with_state_dir(&self.dir.path().join("state"))
    }
}

/// Runs a table and checks it answered, and quickly.
fn run(engine: &Engine, table: &str) -> TableResult {
    let started = Instant::now();
    let result = engine
        .generate(table, "")
        .unwrap_or_else(|e| panic!("{table}: {e}"));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{table} took {:?}",
        started.elapsed()
    );
    result
}

fn column<'a>(result: &'a TableResult, row: &'a [Option<String>], name: &str) -> &'a str {
    let i = result.columns.iter().position(|c| c.name == name).unwrap();
    row[i].as_deref().unwrap_or("")
}

fn rows_where<'a>(result: &'a TableResult, name: &str, value: &str) -> Vec<&'a [Option<String>]> {
    result
        .rows
        .iter()
        .map(Vec::as_slice)
        .filter(|r| column(result, r, name) == value)
        .collect()
}

#[test]
fn fifos_wherever_a_user_writes_block_no_table() {
    let image = Image::new();
    let home = "/home/mallory";
    for rel in [
        ".config/autostart/evil.desktop",
        ".config/systemd/user/evil.service",
        "Library/LaunchAgents/com.evil.agent.plist",
        "Applications/Evil.app/Contents/Info.plist",
        ".config/google-chrome/Default/Preferences",
        ".config/google-chrome/Default/Secure Preferences",
        ".mozilla/firefox/abcd.default/extensions.json",
        ".config/google-chrome/Default/Extensions/abcdefghijklmnopabcdefghijklmnop/1.0/manifest.json",
        ".local/share/flatpak/app/com.evil.App/current/active/metadata",
        "Downloads/anydesk",
        ".local/bin/rustdesk",
        ".local/share/recently-used.xbel",
        "Library/Caches/Homebrew/api/formula.jws.json",
        ".config/fcitx5/profile",
        ".config/kxkbrc",
        ".config/locale.conf",
        "Library/Preferences/com.apple.HIToolbox.plist",
        "Library/Preferences/.GlobalPreferences.plist",
        "Library/Caches/Homebrew/api/cask.jws.json",
        "Library/Application Support/com.apple.sharedfilelist/com.apple.LSSharedFileList.ApplicationRecentDocuments/us.zoom.xos.sfl3",
    ] {
        image.fifo(&format!("{home}/{rel}"));
    }
    image.fifo("/tmp/anydesk");
    // The real thing next to the decoys is still found.
    image.executable(&format!("{home}/Desktop/anydesk"));
    let engine = image.engine();
    for table in TABLES {
        run(&engine, table);
    }
    let tools = run(&engine, "remote_access_tools");
    let files: Vec<&str> = rows_where(&tools, "evidence_type", "file")
        .into_iter()
        .map(|r| column(&tools, r, "path"))
        .collect();
    assert_eq!(files, [format!("{home}/Desktop/anydesk")]);
    let software = run(&engine, "new_software_since_enrollment");
    let portable: Vec<&str> = rows_where(&software, "source", "portable")
        .into_iter()
        .map(|r| column(&software, r, "path"))
        .collect();
    assert_eq!(portable, [format!("{home}/Desktop/anydesk")]);
}

#[test]
fn fifos_at_an_images_passwd_and_package_database_block_no_table() {
    let image = Image::new();
    fs::remove_file(image.path("/etc/passwd")).unwrap();
    image.fifo("/etc/passwd");
    image.fifo("/var/lib/dpkg/status");
    image.fifo("/var/log/dpkg.log");
    image.fifo("/var/log/apt/history.log");
    image.fifo("/var/lib/rpm/rpmdb.sqlite");
    image.fifo("/etc/localtime");
    image.fifo("/etc/ssh/sshd_config");
    image.fifo("/etc/postern/policy.json.tmp");
    image.fifo("/var/spool/cron/crontabs/mallory");
    image.fifo("/etc/init.d/evil");
    image.fifo("/etc/crontab");
    image.fifo("/proc/1/cmdline");
    image.fifo("/proc/self/mountinfo");
    let engine = image.engine();
    for table in TABLES {
        let result = run(&engine, table);
        let said = result.warnings.join("\n");
        if *table == "remote_access_tools" {
            assert!(said.contains("a FIFO, not a regular file"), "{said}");
        }
    }
}

#[test]
fn a_flood_in_tmp_spends_only_the_budget_of_tmp() {
    let image = Image::new();
    // More files named like a tool installer than an area may check.
    image.flood("/tmp", 6_000, |i| format!("anydesk_{i}.deb"));
    // A directory with more names than the old, shared walk budget, and the
    // tool inside it, sorting after all of them.
    image.flood("/home/mallory/Downloads/junk", 120_000, |i| {
        format!("f{i:06}.txt")
    });
    image.executable("/home/mallory/Downloads/junk/rustdesk");
    let engine = image.engine();

    let tools = run(&engine, "remote_access_tools");
    let found = rows_where(&tools, "tool_id", "rustdesk");
    assert!(
        found
            .iter()
            .any(|r| column(&tools, r, "path") == "/home/mallory/Downloads/junk/rustdesk"),
        "the tool behind the flood was missed"
    );
    let incomplete = rows_where(&tools, "evidence_type", "scan_incomplete");
    let areas: Vec<&str> = incomplete
        .iter()
        .map(|r| column(&tools, r, "path"))
        .collect();
    assert_eq!(areas, ["/tmp"]);
    let row = incomplete[0];
    assert!(column(&tools, row, "evidence").contains("more than 2000 files"));
    assert_eq!(
        column(&tools, row, "approved"),
        "",
        "not a tool, never counted as unapproved"
    );

    let software = run(&engine, "new_software_since_enrollment");
    let areas: Vec<&str> = rows_where(&software, "source", "scan_incomplete")
        .into_iter()
        .map(|r| column(&software, r, "path"))
        .collect();
    assert_eq!(areas, ["/tmp"]);
    assert!(rows_where(&software, "source", "portable")
        .iter()
        .any(|r| column(&software, r, "path") == "/home/mallory/Downloads/junk/rustdesk"));
}

#[test]
fn absolute_links_out_of_an_image_lead_back_into_it() {
    let image = Image::new();
    // Software of the auditing machine, outside the image: a /usr with
    // AnyDesk in it, and a dpkg database that lists it.
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(outside.path().join("usr/bin")).unwrap();
    fs::create_dir_all(outside.path().join("usr/share/anydesk")).unwrap();
    fs::copy("/bin/true", outside.path().join("usr/bin/anydesk")).unwrap();
    fs::write(
        outside.path().join("status"),
        "Package: anydesk\nStatus: install ok installed\nVersion: 6.3.0\n\n",
    )
    .unwrap();
    // The image points at it by absolute paths, as `usr -> /usr` in an
    // image would point at the auditor's own /usr, and at the live /proc.
    symlink(outside.path().join("usr"), image.path("/usr")).unwrap();
    symlink("/proc", image.path("/proc")).unwrap();
    image.mkdir("/var/lib/dpkg");
    symlink(
        outside.path().join("status"),
        image.path("/var/lib/dpkg/status"),
    )
    .unwrap();
    symlink(
        outside.path().join("usr/bin"),
        image.path("/home/mallory/Downloads"),
    )
    .unwrap();
    let engine = image.engine();
    let tools = run(&engine, "remote_access_tools");
    let rows: Vec<String> = tools
        .rows
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                column(&tools, r, "tool_id"),
                column(&tools, r, "evidence")
            )
        })
        .collect();
    assert!(
        rows.iter().all(|r| !r.starts_with("anydesk")),
        "the auditing machine's files were reported as the image's: {rows:?}"
    );
    assert!(
        rows_where(&tools, "evidence_type", "process").is_empty(),
        "the auditing machine's processes were reported as the image's"
    );
    let software = run(&engine, "new_software_since_enrollment");
    assert!(rows_where(&software, "name", "anydesk").is_empty());
}

#[test]
fn ssh_configurations_that_loop_flood_and_block_are_read_within_bounds() {
    let image = Image::new();
    let home = "/home/mallory";
    // The config includes itself, a FIFO, the file with the RemoteForward,
    // then a pattern over 5,000 files meant to spend the budget first.
    image.write(
        &format!("{home}/.ssh/config"),
        "Include ~/.ssh/config\nInclude pipe.conf\nInclude real.conf\nInclude flood/*\n",
    );
    image.fifo(&format!("{home}/.ssh/pipe.conf"));
    image.flood(&format!("{home}/.ssh/flood"), 5_000, |i| format!("f{i:05}"));
    image.write(
        &format!("{home}/.ssh/real.conf"),
        "Host jump\n  RemoteForward 5900 localhost:5900\n",
    );
    // A renamed program at rest that is a FIFO: skipped, not waited on.
    image.fifo(&format!("{home}/.cargo/bin/update-helper"));
    let engine = image.engine();
    let started = std::time::Instant::now();
    let tools = run(&engine, "remote_access_tools");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let config = rows_where(&tools, "tool_id", "ssh_reverse_tunnel");
    assert_eq!(config.len(), 1);
    let evidence = column(&tools, config[0], "evidence");
    assert!(
        evidence.contains(
            "RemoteForward 5900 localhost:5900 (under Host jump) in /home/mallory/.ssh/real.conf"
        ),
        "{evidence}"
    );
}

/// The desktop's recent-use records are the user's: a flood of KDE entries
/// is read to its bound, a forged xbel with times in the future makes an
/// app look used now at most, and a link out of the image reads the
/// image's own file.
#[test]
fn forged_recent_use_records_stay_within_bounds() {
    let image = Image::new();
    let home = "/home/mallory";
    image.executable("/usr/bin/gimp");
    image.write(
        "/var/lib/dpkg/status",
        "Package: gimp\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.10.22-4\n\n",
    );
    image.write("/var/lib/dpkg/info/gimp.list", "/usr/bin/gimp\n");
    let forged = "<xbel><bookmark><info><metadata><bookmark:applications>\
        <bookmark:application name=\"g\" exec=\"gimp %U\" modified=\"2999-01-01T00:00:00Z\"/>\
        </bookmark:applications></metadata></info></bookmark></xbel>";
    image.write(&format!("{home}/.local/share/recently-used.xbel"), forged);
    image.flood(
        &format!("{home}/.local/share/RecentDocuments"),
        20_000,
        |i| format!("doc{i}.desktop"),
    );
    symlink(
        "/etc/shadow",
        image.path("/home/mallory/.local/share/RecentDocuments/zz.desktop"),
    )
    .unwrap();
    let engine = image.engine();
    let started = Instant::now();
    let hygiene = run(&engine, "software_hygiene");
    assert!(started.elapsed() < Duration::from_secs(10));
    let gimp = rows_where(&hygiene, "name", "gimp");
    assert_eq!(gimp.len(), 1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let last: i64 = column(&hygiene, gimp[0], "last_used").parse().unwrap();
    assert!((now - 60..=now + 1).contains(&last), "{last} vs {now}");
    assert_eq!(column(&hygiene, gimp[0], "unused_days"), "0");
}

/// A property list nested 100,000 deep (700 KB) where postern reads a
/// user's plists: the recursive parser would overflow a worker's stack and
/// abort the whole extension; the nesting is measured first and the file
/// refused, and every table answers.
#[test]
fn deeply_nested_plists_are_refused_not_a_crash() {
    let image = Image::new();
    let depth = 100_000;
    let deep = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\">{}{}</plist>",
        "<array>".repeat(depth),
        "</array>".repeat(depth)
    );
    image.write(
        "/etc/postern/policy.json",
        r#"{"enrollment": {"time": "2024-01-01T00:00:00Z"}, "assignment": {"countries": ["US"], "languages": ["en"]}}"#,
    );
    image.write("/System/Library/CoreServices/SystemVersion.plist", &deep);
    for rel in [
        "Applications/Evil.app/Contents/Info.plist",
        "Library/LaunchAgents/com.evil.agent.plist",
        "Library/Preferences/com.apple.HIToolbox.plist",
        "Library/Preferences/.GlobalPreferences.plist",
    ] {
        image.write(&format!("/home/mallory/{rel}"), &deep);
        image.write(&format!("/Users/mallory/{rel}"), &deep);
    }
    image.write("/Applications/Evil.app/Contents/Info.plist", &deep);
    image.write("/Library/LaunchDaemons/com.evil.daemon.plist", &deep);
    image.write(
        "/Library/Preferences/com.apple.PowerManagement.plist",
        &deep,
    );
    let engine = image.engine();
    for table in TABLES {
        run(&engine, table);
    }
}
