//! `postern report --demo`: realistic result logs for N hosts over M days
//! with known failures and fixes, so tests can assert exact figures.
//!
//! Host `hNNN` (index i), starting at `start`, logs in osquery's event format:
//! - every control `pass` at the start, except that hosts with `i % 3 == 1`
//!   never have a healthy EDR (`edr` fails throughout);
//! - hosts with `i % 4 == 0`: `firewall` fails on day 1 at 10:00 and passes
//!   again `2 + i / 4` hours later;
//! - hosts with `i % 5 == 2`: AnyDesk appears on day 2 at 09:00 (installed
//!   45 minutes earlier) and, on hosts with `i % 10 == 2`, is removed 30
//!   minutes later; the others keep it;
//! - every host: one unmanaged package installed on day 1 at 00:00 and first
//!   logged at 00:15.
//!
//! One line in every 100 is garbage, and every host logs a result of a query
//! postern does not know.

use std::io::Write;

use serde_json::{json, Value};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// Monday 2026-01-05 00:00 UTC.
pub const DEMO_START: i64 = 1_767_571_200;

fn event(host: &str, query: &str, time: i64, action: &str, columns: Value) -> Value {
    json!({"name": format!("pack/postern-demo/{query}"), "hostIdentifier": host, "unixTime": time,
           "calendarTime": "", "epoch": 0, "counter": 0, "numerics": false,
           "decorations": {"platform": if host.ends_with('0') { "darwin" } else { "ubuntu" }},
           "columns": columns, "action": action})
}

fn control(control: &str, status: &str) -> Value {
    json!({"control": control, "product": "", "category": "", "required": "1", "status": status, "severity": "high"})
}

/// Every log line the demo fleet writes, in time order per host.
pub fn lines(hosts: usize, days: i64) -> Vec<String> {
    let mut out: Vec<(i64, String)> = Vec::new();
    let controls = ["edr", "disk_encryption", "firewall", "auto_updates"];
    for i in 0..hosts {
        let host = format!("h{i:03}");
        let push = |out: &mut Vec<(i64, String)>, v: Value| {
            let t = v
                .get("unixTime")
                .and_then(Value::as_i64)
                .unwrap_or_default();
            out.push((t, v.to_string()));
        };
        for c in controls {
            let status = if c == "edr" && i % 3 == 1 {
                "fail"
            } else {
                "pass"
            };
            push(
                &mut out,
                event(
                    &host,
                    "postern_control_status",
                    DEMO_START,
                    "added",
                    control(c, status),
                ),
            );
        }
        if i % 4 == 0 && days > 1 {
            let broke = DEMO_START + DAY + 10 * HOUR;
            let fixed = broke + (2 + (i / 4) as i64) * HOUR;
            push(
                &mut out,
                event(
                    &host,
                    "postern_control_status",
                    broke,
                    "removed",
                    control("firewall", "pass"),
                ),
            );
            push(
                &mut out,
                event(
                    &host,
                    "postern_control_status",
                    broke,
                    "added",
                    control("firewall", "fail"),
                ),
            );
            push(
                &mut out,
                event(
                    &host,
                    "postern_control_status",
                    fixed,
                    "removed",
                    control("firewall", "fail"),
                ),
            );
            push(
                &mut out,
                event(
                    &host,
                    "postern_control_status",
                    fixed,
                    "added",
                    control("firewall", "pass"),
                ),
            );
        }
        if i % 5 == 2 && days > 2 {
            let seen = DEMO_START + 2 * DAY + 9 * HOUR;
            let tool = json!({"tool_id": "anydesk", "name": "AnyDesk", "category": "remote_desktop", "evidence_type": "process"});
            push(
                &mut out,
                event(
                    &host,
                    "postern_remote_access_unapproved",
                    seen,
                    "added",
                    tool.clone(),
                ),
            );
            push(
                &mut out,
                event(
                    &host,
                    "postern_new_unmanaged_software",
                    seen,
                    "added",
                    json!({"name": "anydesk", "source": "deb", "install_time": (seen - 45 * 60).to_string(), "remote_access_tool": "anydesk"}),
                ),
            );
            if i % 10 == 2 {
                push(
                    &mut out,
                    event(
                        &host,
                        "postern_remote_access_unapproved",
                        seen + 30 * 60,
                        "removed",
                        tool,
                    ),
                );
            }
        }
        if days > 1 {
            let installed = DEMO_START + DAY;
            push(
                &mut out,
                event(
                    &host,
                    "postern_new_unmanaged_software",
                    installed + 15 * 60,
                    "added",
                    json!({"name": format!("tool-{i}"), "source": "deb", "install_time": installed.to_string(), "remote_access_tool": ""}),
                ),
            );
        }
        push(
            &mut out,
            event(
                &host,
                "some_other_query",
                DEMO_START + HOUR,
                "added",
                json!({"x": "1"}),
            ),
        );
        // The last day: a heartbeat of every control, so the window ends there.
        let last = DEMO_START + days * DAY - 1;
        push(
            &mut out,
            event(
                &host,
                "postern_control_snapshot",
                last,
                "snapshot",
                control("disk_encryption", "pass"),
            ),
        );
    }
    out.sort_by_key(|(t, _)| *t);
    let mut lines: Vec<String> = Vec::with_capacity(out.len() + out.len() / 100);
    for (n, (_, line)) in out.into_iter().enumerate() {
        if n % 100 == 99 {
            lines.push("{\"truncated\": ".to_string());
        }
        lines.push(line);
    }
    lines
}

/// Writes the demo log to `path` (plain text, one JSON object a line).
pub fn write(path: &std::path::Path, hosts: usize, days: i64) -> std::io::Result<usize> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let lines = lines(hosts, days);
    for l in &lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::input::parse_line;
    use crate::report::Analyzer;

    fn run(hosts: usize, days: i64) -> Value {
        let mut a = Analyzer::default();
        for (n, line) in lines(hosts, days).iter().enumerate() {
            a.lines += 1;
            match parse_line(line) {
                Ok(events) => events.into_iter().for_each(|e| a.add(e)),
                Err(e) => a.malformed_line("demo", n + 1, e),
            }
        }
        a.to_json()
    }

    #[test]
    fn demo_figures_are_exact() {
        let r = run(40, 7);
        // 40 hosts; i % 3 == 1 for 13 of them: EDR coverage 27/40.
        assert_eq!(r["hosts"]["total"], 40);
        assert_eq!(r["hosts"]["by_platform"]["darwin"], 4);
        assert_eq!(r["edr_coverage"]["hosts_passing"], 27);
        assert_eq!(r["edr_coverage"]["share"], 27.0 / 40.0);
        assert_eq!(r["edr_coverage"]["daily"].as_array().unwrap().len(), 7);
        let firewall = r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["control"] == "firewall")
            .unwrap();
        // Hosts 0, 4, ..., 36: fixed after 2, 3, ..., 11 hours.
        assert_eq!(firewall["time_to_resolve"]["count"], 10);
        assert_eq!(firewall["time_to_resolve"]["median_s"], 6 * HOUR);
        assert_eq!(firewall["time_to_resolve"]["p90_s"], 10 * HOUR);
        assert_eq!(firewall["share"], 1.0);
        assert_eq!(firewall["grade"], "A");
        let edr = r["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["control"] == "edr")
            .unwrap();
        assert_eq!(edr["grade"], "D");
        assert_eq!(edr["open"].as_array().unwrap().len(), 13);
        // AnyDesk on hosts 2, 7, 12, ..., 37 (8); removed after 30 min on 2, 12, 22, 32.
        let ra = &r["remote_access"];
        assert_eq!(ra["hosts_with_unapproved_tools"], 4);
        assert_eq!(ra["time_to_resolve"]["count"], 4);
        assert_eq!(ra["time_to_resolve"]["median_s"], 30 * 60);
        assert_eq!(ra["time_to_detect"]["median_s"], 45 * 60);
        assert_eq!(r["new_software"]["unmanaged"], 48);
        assert_eq!(r["new_software"]["time_to_detect"]["count"], 48);
        assert_eq!(r["new_software"]["time_to_detect"]["p90_s"], 45 * 60);
        assert_eq!(r["input"]["unknown_query_results"], 40);
        assert!(r["input"]["malformed"].as_u64().unwrap() > 0);
        let host0 = r["host_grades"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == "h001")
            .unwrap();
        assert_eq!(host0["grade"], "C", "3 of 4 controls pass on h001");
    }
}
