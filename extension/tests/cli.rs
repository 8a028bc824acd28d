#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The standalone commands, run as a user would run them.

use std::path::Path;
use std::process::{Command, Output};

fn postern(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(args)
        .output()
        .unwrap()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn policy_validate_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.json");
    std::fs::write(
        &bad,
        r#"{"remote_access":{"approved":["anydsk", 3]},"contrls":{}}"#,
    )
    .unwrap();
    let out = postern(&["policy", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"unknown tool id "anydsk""#), "{err}");
    assert!(err.contains("approved[1]: 3"), "{err}");
    assert!(err.contains(r#"unknown key "contrls""#), "{err}");
    assert!(err.contains("3 problem(s)"), "{err}");

    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{"remote_access":{"approved":["tailscale"]}}"#).unwrap();
    let out = postern(&["policy", "validate", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = postern(&["policy", "validate", "/nonexistent/policy.json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/policy.json"));
}

#[test]
fn policy_validate_refuses_duplicate_keys_fifos_and_endless_files() {
    let dir = tempfile::tempdir().unwrap();
    // A second "approved" would silently win in a lenient JSON reader.
    let dup = dir.path().join("dup.json");
    std::fs::write(
        &dup,
        r#"{"remote_access":{"approved":[],"approved":["anydesk"]}}"#,
    )
    .unwrap();
    let out = postern(&["policy", "validate", dup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(r#"the key "approved" appears twice"#), "{err}");

    // A FIFO nobody writes to, and a link to an endless device: each is an
    // error at once, not a hang or a memory blow-up.
    let fifo = dir.path().join("fifo.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let zero = dir.path().join("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for path in [&fifo, &zero] {
        let started = std::time::Instant::now();
        let out = postern(&["policy", "validate", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a regular file"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
    // And the same file as --policy for a query: an error naming it, one
    // line, no hang.
    let started = std::time::Instant::now();
    let out = postern(&[
        "query",
        "remote_access_tools",
        "--root",
        &format!("{}/root", fixture("laptop_farm")),
        "--policy",
        fifo.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("--policy {}", fifo.display())) && err.contains("not a regular file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; (1 << 20) + 1]).unwrap();
    let out = postern(&["policy", "validate", big.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("limit"));
}

#[test]
fn query_formats() {
    let root = format!("{}/root", fixture("laptop_farm"));
    let policy = format!("{}/policy.json", fixture("laptop_farm"));
    let out = postern(&[
        "query",
        "remote_access_tools",
        "--root",
        &root,
        "--policy",
        &policy,
        "--format",
        "json",
        "--where",
        "tool_id=anydesk",
        "--where",
        "evidence_type=process",
    ]);
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["pid"], "2201");

    let out = postern(&[
        "query",
        "remote_access_tools",
        "--root",
        &root,
        "--format",
        "csv",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("tool_id,name,vendor,category,evidence_type,evidence,path,pid,"));

    let out = postern(&["query", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no table named \"nope\""));
    let out = postern(&[
        "query",
        "remote_access_tools",
        "--root",
        "/nonexistent-root",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn audit_summarises_a_host() {
    let root = format!("{}/root", fixture("laptop_farm"));
    let policy = format!("{}/policy.json", fixture("laptop_farm"));
    let out = postern(&["audit", "--root", &root, "--policy", &policy]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("approves 1 remote access tool(s)"), "{text}");
    assert!(
        text.contains("[!!] AnyDesk (anydesk) remote_desktop, severity high: NOT APPROVED"),
        "{text}"
    );
    assert!(text.contains("[ok] Tailscale (tailscale)"), "{text}");
    // A default port alone (5900, held by an unknown program) is a hint, not
    // a verdict, and is not counted as an unapproved tool.
    assert!(
        text.contains(
            "[? ] Unidentified VNC server (vnc_server_unidentified) vnc_server: hint only"
        ),
        "{text}"
    );
    assert!(
        !text.contains("Unidentified VNC server (vnc_server_unidentified) vnc_server, severity")
    );
    assert!(text.contains("and 1 hint from a port alone"), "{text}");
    let out = postern(&[
        "audit",
        "--root",
        &root,
        "--policy",
        &policy,
        "--fail-on-findings",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["unapproved_remote_access_tools"].as_u64().unwrap() >= 5);
}

#[test]
fn tables_json_matches_the_library() {
    let out = postern(&["tables", "--format", "json"]);
    let tables: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tables[0]["name"], "remote_access_tools");
    assert_eq!(tables[0]["columns"][7]["name"], "pid");
    assert_eq!(tables[0]["columns"][7]["type"], "BIGINT");
}

#[test]
fn baseline_init_show_verify_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("var/lib/dpkg/status"),
        "Package: htop\nStatus: install ok installed\nVersion: 3.2.2-2\n",
    )
    .unwrap();
    let r = root.to_str().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_postern"))
            .args(args)
            .env_remove("POSTERN_STATE_DIR")
            .output()
            .unwrap()
    };
    let out = run(&["baseline", "verify", "--root", r]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no enrollment baseline has been recorded")
    );

    assert!(run(&["baseline", "init", "--root", r]).status.success());
    let again = run(&["baseline", "init", "--root", r]);
    assert_eq!(again.status.code(), Some(1), "no silent replacement");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    let out = run(&["baseline", "verify", "--root", r]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("baseline ok: 1 items"));
    let out = run(&["baseline", "show", "--root", r, "--format", "json"]);
    let items: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(items[0]["name"], "htop");

    // A hand edit is detected, the file kept aside, and nothing re-created.
    let file = root.join("var/lib/postern/baseline.json");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("htop", "htopp");
    std::fs::write(&file, text).unwrap();
    let out = run(&["baseline", "verify", "--root", r]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    assert!(root.join("var/lib/postern/baseline.json.damaged").exists());
    // Verified again: still damaged (kept aside), not "gone".
    let out = run(&["baseline", "verify", "--root", r]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("damaged") && err.contains("baseline.json.damaged") && !err.contains("gone"),
        "{err}"
    );
    assert_eq!(
        run(&["baseline", "init", "--root", r]).status.code(),
        Some(1)
    );
    assert!(run(&["baseline", "init", "--root", r, "--force"])
        .status
        .success());
}

#[test]
fn report_reads_plain_gzip_directories_and_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("logs/osqueryd.results.log");
    std::fs::create_dir_all(demo.parent().unwrap()).unwrap();
    let out = postern(&[
        "report",
        "--demo",
        demo.to_str().unwrap(),
        "--hosts",
        "40",
        "--days",
        "7",
    ]);
    assert!(out.status.success());
    // The same lines, gzip-compressed, in a rotated file beside it.
    let text = std::fs::read(&demo).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz_path = dir.path().join("more.log.1.gz");
    std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();

    let json = |args: &[&str]| -> serde_json::Value {
        let out = postern(args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let plain = json(&["report", "--format", "json", demo.to_str().unwrap()]);
    let gzipped = json(&["report", "--format", "json", gz_path.to_str().unwrap()]);
    assert_eq!(plain["edr_coverage"], gzipped["edr_coverage"]);
    assert_eq!(plain["remote_access"]["time_to_resolve"]["median_s"], 1800);
    // A directory: every file below it.
    let whole = json(&["report", "--format", "json", dir.path().to_str().unwrap()]);
    assert_eq!(
        whole["input"]["lines"],
        plain["input"]["lines"].as_u64().unwrap() * 2
    );
    assert!(
        whole["input"]["malformed_examples"]
            .as_array()
            .unwrap()
            .len()
            <= 5
    );

    // Standard input, as at the end of a pipeline.
    let mut child = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["report", "--format", "text"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        report.contains("EDR coverage: 82% (33 of 40 hosts)"),
        "{report}"
    );
    assert!(report.contains("malformed: -:100:"), "{report}");
}

/// A demo log in a new temporary directory.
fn demo_log(hosts: u32, days: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo.log");
    let (h, d) = (hosts.to_string(), days.to_string());
    let out = postern(&[
        "report",
        "--demo",
        demo.to_str().unwrap(),
        "--hosts",
        &h,
        "--days",
        &d,
    ]);
    assert!(out.status.success());
    (dir, demo)
}

#[test]
fn report_chooses_its_format_and_writes_whole_files() {
    let (dir, demo) = demo_log(12, 4);
    let d = demo.to_str().unwrap();
    // In a pipeline, without --format: JSON.
    let out = postern(&["report", d]);
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["schema"], "postern.report/2");
    assert_eq!(json["hosts"]["total"], 12);
    // --output: the format follows the file's extension.
    let html = dir.path().join("fleet.html");
    let out = postern(&["report", d, "-o", html.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("<figure id=\"chart-edr-coverage\""));
    let text = dir.path().join("fleet.txt");
    assert!(postern(&["report", d, "-o", text.to_str().unwrap()])
        .status
        .success());
    assert!(std::fs::read_to_string(&text)
        .unwrap()
        .starts_with("postern report: 12 hosts"));
    // An explicit --format wins over the extension.
    assert!(postern(&[
        "report",
        d,
        "--format",
        "json",
        "-o",
        text.to_str().unwrap()
    ])
    .status
    .success());
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&text).unwrap()).unwrap();
    assert_eq!(again["hosts"]["total"], 12);
    // A directory that does not exist: a clear error, nothing left behind.
    let out = postern(&[
        "report",
        d,
        "-o",
        dir.path().join("no/such/r.html").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write"));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 3, "{left:?}");
}

#[test]
fn report_is_the_same_on_one_thread_or_several() {
    // Enough hosts for several 1 MiB chunks.
    let (_dir, demo) = demo_log(400, 5);
    let d = demo.to_str().unwrap();
    let one = postern(&["report", d, "--format", "json", "--threads", "1"]);
    assert!(one.status.success());
    for threads in ["2", "5"] {
        let many = postern(&["report", d, "--format", "json", "--threads", threads]);
        assert!(many.status.success());
        assert_eq!(one.stdout, many.stdout, "--threads {threads}");
    }
    let json: serde_json::Value = serde_json::from_slice(&one.stdout).unwrap();
    assert!(json["input"]["bytes"].as_u64().unwrap() > 2 << 20);
    assert_eq!(
        json["input"]["bytes"].as_u64().unwrap(),
        std::fs::metadata(&demo).unwrap().len()
    );
    let zero = postern(&["report", d, "--threads", "0"]);
    assert_eq!(zero.status.code(), Some(2), "clap refuses it");
}

#[test]
fn a_bare_policy_file_name_is_validated_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.json"), "{}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["policy", "validate", "good.json"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    // As root the directory's trust is checked: "." here, not "".
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("cannot stat :"), "{err}");
    if out.status.success() {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "good.json: valid"
        );
    } else {
        // A temporary directory others can write to is refused, by name.
        assert!(err.contains("refused when postern runs as root"), "{err}");
    }
}

#[test]
fn misspellings_get_suggestions_and_names() {
    let out = postern(&["query", "remote_acces_tools"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"did you mean "remote_access_tools"?"#),
        "{err}"
    );
    let out = postern(&[
        "query",
        "remote_access_tools",
        "--root",
        &format!("{}/root", fixture("laptop_farm")),
        "--where",
        "tool=anydesk",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(r#"has no column "tool""#) && err.contains("tool_id"),
        "{err}"
    );
}

#[test]
fn a_named_policy_that_is_missing_or_invalid_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let invalid = dir.path().join("bad.json");
    std::fs::write(&invalid, r#"{"remote_access":"#).unwrap();
    for (path, why) in [(&missing, "No such file"), (&invalid, "not valid JSON")] {
        for command in ["audit", "query"] {
            let mut args = vec![command];
            if command == "query" {
                args.push("remote_access_tools");
            }
            args.extend(["--policy", path.to_str().unwrap()]);
            let out = postern(&args);
            assert_eq!(out.status.code(), Some(1), "{command} {}", path.display());
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&path.display().to_string()) && err.contains(why),
                "{err}"
            );
            assert!(out.stdout.is_empty());
        }
    }
}

#[test]
fn output_closed_by_its_reader_is_not_an_error() {
    // Standard output is a pipe whose reader is already gone, as when
    // `| head` has read what it wanted: every write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["catalog"])
        .stdout(writer)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.is_empty(), "{err}");
}

#[test]
fn fail_on_findings_counts_failing_required_controls() {
    let dir = tempfile::tempdir().unwrap();
    let root = format!("{}/root", fixture("bare_linux"));
    // Both tools approved: only the required firewall, which fails there,
    // is a finding.
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"remote_access":{"approved":["anydesk","xrdp"]},"controls":{"required":["firewall"]}}"#,
    )
    .unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = vec![
            "audit".to_string(),
            "--root".into(),
            root.clone(),
            "--policy".into(),
            policy.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_postern"))
            .args(a)
            .output()
            .unwrap()
    };
    let out = run(args(&["--format", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["unapproved_remote_access_tools"], 0);
    assert_eq!(report["failing_required_controls"], 1);
    assert_eq!(run(args(&["--fail-on-findings"])).status.code(), Some(1));
    assert!(run(args(&[])).status.success());
    // Nothing required: the same host is no finding.
    std::fs::write(
        &policy,
        r#"{"remote_access":{"approved":["anydesk","xrdp"]}}"#,
    )
    .unwrap();
    assert!(run(args(&["--fail-on-findings"])).status.success());
}

#[test]
fn catalog_lists_tool_and_agent_ids() {
    let out = postern(&["catalog", "--agents", "--format", "json"]);
    assert!(out.status.success());
    let agents: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(agents
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == "crowdstrike_falcon" && a["kind"] == "edr"));
    // The policy's error sends the user to that command.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("p.json");
    std::fs::write(&bad, r#"{"edr":{"required_any":["crowdstrik"]}}"#).unwrap();
    let out = postern(&["policy", "validate", bad.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("postern catalog --agents"));
}

#[test]
fn an_unreadable_baseline_is_not_met_with_advice_to_replace_it() {
    // The state directory cannot be read (here: a file stands where its
    // parent should be, as a permission error would look to a user).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args([
            "query",
            "security_control_health",
            "--where",
            "control=postern_baseline",
            "--format",
            "json",
        ])
        .env("POSTERN_STATE_DIR", file.join("state"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &rows[0];
    assert_eq!(row["status"], "unknown", "{row}");
    let fix = row["remediation"].as_str().unwrap();
    assert!(
        fix.contains("Run postern as root") && !fix.contains("--force"),
        "{fix}"
    );
}

#[test]
fn a_named_log_that_cannot_be_read_is_an_error_not_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("osqueryd.results.log");
    let out = postern(&["report", missing.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_named_directory_without_logs_is_an_error_not_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rotated")).unwrap();
    let out = postern(&["report", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&dir.path().display().to_string()) && err.contains("no result log file"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_root_that_cannot_be_listed_is_one_error_not_empty_tables() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("host");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o311)).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_postern"));
    command.args(["audit", "--root", root.to_str().unwrap()]);
    if rustix::process::geteuid().is_root() {
        // root lists any directory: ask as nobody, as a non-root user would.
        command.uid(65534).gid(65534);
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot use --root {}", root.display()))
            && err.contains("Permission denied"),
        "{err}"
    );
}

/// A small deterministic shuffle (xorshift), so a failure can be replayed.
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[test]
fn report_figures_do_not_depend_on_how_the_logs_arrive() {
    use std::io::Write;
    let (dir, demo) = demo_log(40, 7);
    // The demo's garbage lines would be reported with their file and line
    // number, which moving lines changes; everything else must not change.
    let lines: Vec<String> = std::fs::read_to_string(&demo)
        .unwrap()
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .map(String::from)
        .collect();
    let whole = dir.path().join("whole.log");
    std::fs::write(&whole, lines.join("\n") + "\n").unwrap();
    let want = postern(&["report", whole.to_str().unwrap(), "--format", "json"]);
    assert!(want.status.success());
    let json: serde_json::Value = serde_json::from_slice(&want.stdout).unwrap();
    assert!(
        json["time_to_resolve"]["overall"]["count"]
            .as_u64()
            .unwrap()
            > 10
    );

    for seed in [1u64, 7, 42, 1234] {
        // Lines shuffled across files of a directory tree, named so that
        // name order is not time order, some gzip, one of them rotated
        // logrotate-style; every figure must be byte for byte the same.
        let mut shuffled = lines.clone();
        shuffle(&mut shuffled, seed);
        let tree = dir.path().join(format!("tree-{seed}"));
        std::fs::create_dir_all(tree.join("older")).unwrap();
        let names = [
            "osqueryd.results.log",
            "osqueryd.results.log.1",
            "older/osqueryd.results.log.2.gz",
            "2026-03-02.log",
            "2026-03-01.log.gz",
        ];
        let per = shuffled.len().div_ceil(names.len());
        for (name, part) in names.iter().zip(shuffled.chunks(per)) {
            let text = part.join("\n") + "\n";
            let path = tree.join(name);
            if name.ends_with(".gz") {
                let mut gz = flate2::write::GzEncoder::new(
                    std::fs::File::create(&path).unwrap(),
                    flate2::Compression::fast(),
                );
                gz.write_all(text.as_bytes()).unwrap();
                gz.finish().unwrap();
            } else {
                std::fs::write(&path, text).unwrap();
            }
        }
        let got = postern(&["report", tree.to_str().unwrap(), "--format", "json"]);
        assert!(got.status.success());
        assert!(
            want.stdout == got.stdout,
            "seed {seed}: the figures changed"
        );
        // The same files named one by one in another order, two threads.
        let mut files: Vec<String> = names
            .iter()
            .map(|n| tree.join(n).display().to_string())
            .collect();
        shuffle(&mut files, seed + 1);
        let mut args = vec!["report", "--format", "json", "--threads", "2"];
        args.extend(files.iter().map(String::as_str));
        let got = postern(&args);
        assert!(want.stdout == got.stdout, "seed {seed}: files one by one");
    }

    // A log copied twice (a forwarder that retried) changes the input
    // counts, not one figure.
    let twice = dir.path().join("twice.log");
    std::fs::write(&twice, lines.join("\n") + "\n" + &lines.join("\n") + "\n").unwrap();
    let got = postern(&["report", twice.to_str().unwrap(), "--format", "json"]);
    let mut a: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    let mut b = json.clone();
    a.as_object_mut().unwrap().remove("input");
    b.as_object_mut().unwrap().remove("input");
    assert_eq!(a, b);
}

#[test]
fn audit_lists_what_to_act_on_in_software_hygiene() {
    let root = format!("{}/root", fixture("hygiene_debian"));
    let policy = format!("{}/policy.json", fixture("hygiene_debian"));
    let out = postern(&["audit", "--root", &root, "--policy", &policy]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Software hygiene: ") && text.contains("with a security update"),
        "{text}"
    );
    // Security updates first.
    let hygiene = &text[text.find("Software hygiene: ").unwrap()..];
    let first = hygiene.lines().nth(1).unwrap();
    assert!(first.contains("(security)"), "{hygiene}");
    assert!(
        hygiene.contains("openssl (deb): outdated: 1.1.1w-0+deb11u1 → 1.1.1w-0+deb11u2 (security)"),
        "{hygiene}"
    );
    assert!(
        !Path::new(&root).join("var/lib/postern").exists(),
        "an audited root is not written to"
    );
}
