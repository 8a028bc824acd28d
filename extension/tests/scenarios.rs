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

fn engine(scenario: &str) -> Engine {
    let dir = fixture(scenario);
    let root = HostRoot::new(dir.join("root")).expect("fixture root");
    let policy = dir.join("policy.json");
    let source = if policy.exists() {
        PolicySource::Explicit(policy)
    } else {
        PolicySource::Default
    };
    Engine::new(root, source, false, Duration::from_secs(60))
}

fn masked_rows(scenario: &str, table: &str, context: &str) -> (Value, Vec<String>) {
    let result = engine(scenario)
        .generate(table, context)
        .expect("table answers");
    let mut rows = postern::output::to_json(result.columns, &result.rows);
    if let Value::Array(rows) = &mut rows {
        for row in rows.iter_mut() {
            if row["evidence_type"] == "file" {
                row["uid"] = Value::String("<owner>".into());
                row["user"] = Value::String("<owner>".into());
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
        .generate("remote_access_tools", "{not json")
        .err();
    assert!(err.is_some_and(|e| e.to_string().contains("malformed query context")));
    let err = engine("laptop_farm").generate("no_such_table", "").err();
    assert!(err.is_some_and(|e| e.to_string().contains("no_such_table")));
}
