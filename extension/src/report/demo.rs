//! `postern report --demo`: realistic result logs for N hosts over M days
//! with known failures and fixes, so tests can assert exact figures. The
//! log is written day by day and host by host, so any size can be written
//! in constant memory (`--hosts 50000 --days 14` is about 1 GB).
//!
//! Host `hNNN` (index i), from `DEMO_START`, logs what postern's packs log:
//! the differential `postern_control_status` in event format (one line a
//! row, `added`/`removed`) and, at 23:59:59 every day, the
//! `postern_control_snapshot` of all eight controls in snapshot format.
//! - Every control passes at the start, except that hosts with `i % 3 == 1`
//!   have a failing `edr`; of those, hosts with `i % 6 == 4` have it fixed on
//!   day 2 at 12:00 (60 hours after the start), the others never;
//! - hosts with `i % 4 == 0`: `firewall` fails on day 1 at 10:00 and passes
//!   again `2 + i / 4` hours later (if that is inside the window); its
//!   failing rows say `status_since` 4 minutes before the failure is logged;
//! - hosts with `i % 5 == 2`: AnyDesk appears on day 2 at 09:00 (installed
//!   45 minutes earlier) and, on hosts with `i % 10 == 2`, is removed 30
//!   minutes later; the others keep it;
//! - on the last day at 23:00, a `postern_hygiene_snapshot` (see
//!   `Host::hygiene` for who has what), and at 23:10 a
//!   `postern_laptop_farm_snapshot` (`Host::farm`);
//! - every host: one unmanaged package installed on day 1 at 00:00 and first
//!   logged at 00:15; and on day 0 at 01:00 a result of a query postern
//!   does not know.
//!
//! Hosts whose index ends in 0 are `darwin`, the others `ubuntu`. One line
//! in every 100 is garbage.

use std::io::Write;

use serde_json::{json, Value};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;
/// Monday 2026-01-05 00:00 UTC.
pub const DEMO_START: i64 = 1_767_571_200;
/// The controls every demo host reports.
const CONTROLS: [&str; 8] = [
    "edr",
    "disk_encryption",
    "firewall",
    "auto_updates",
    "mac",
    "audit_daemon",
    "screen_lock",
    "ssh_root_login",
];

fn header(host: &str, query: &str, time: i64) -> serde_json::Map<String, Value> {
    let platform = if host.ends_with('0') {
        "darwin"
    } else {
        "ubuntu"
    };
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(format!("pack/postern-demo/{query}")));
    m.insert("hostIdentifier".into(), json!(host));
    m.insert("calendarTime".into(), json!(""));
    m.insert("unixTime".into(), json!(time));
    m.insert("epoch".into(), json!(0));
    m.insert("counter".into(), json!(0));
    m.insert("numerics".into(), json!(false));
    m.insert("decorations".into(), json!({"platform": platform}));
    m
}

/// One result row in event format.
fn event(host: &str, query: &str, time: i64, action: &str, columns: Value) -> Value {
    let mut m = header(host, query, time);
    m.insert("columns".into(), columns);
    m.insert("action".into(), json!(action));
    Value::Object(m)
}

fn control(control: &str, status: &str) -> Value {
    json!({"control": control, "product": "", "category": "", "required": "1", "status": status, "severity": "high"})
}

/// One demo host over a window of `days` days.
struct Host {
    i: usize,
    name: String,
    days: i64,
}

impl Host {
    fn end(&self) -> i64 {
        DEMO_START + self.days * DAY - 1
    }

    fn edr_fixed(&self) -> Option<i64> {
        (self.i % 6 == 4 && self.days > 2).then_some(DEMO_START + 2 * DAY + 12 * HOUR)
    }

    /// When the firewall breaks and when it is fixed.
    fn firewall(&self) -> Option<(i64, i64)> {
        let broke = DEMO_START + DAY + 10 * HOUR;
        (self.i % 4 == 0 && self.days > 1)
            .then(|| (broke, broke + (2 + (self.i / 4) as i64) * HOUR))
    }

    /// A control's row at `t`; a failing firewall says since when it is off
    /// (`status_since`, 4 minutes before the result that shows it).
    fn row(&self, c: &str, t: i64) -> Value {
        let mut row = control(c, self.status(c, t));
        if let (Some((broke, _)), "firewall", "fail") = (self.firewall(), c, self.status(c, t)) {
            if let Some(obj) = row.as_object_mut() {
                obj.insert("status_since".into(), json!((broke - 240).to_string()));
            }
        }
        row
    }

    fn status(&self, control: &str, t: i64) -> &'static str {
        let failing = match control {
            "edr" => self.i % 3 == 1 && self.edr_fixed().is_none_or(|f| t < f),
            "firewall" => self.firewall().is_some_and(|(b, f)| b <= t && t < f),
            _ => false,
        };
        if failing {
            "fail"
        } else {
            "pass"
        }
    }

    /// Every event-format line of the whole window, in time order.
    fn events(&self) -> Vec<(i64, Value)> {
        let h = self.name.as_str();
        let mut out = Vec::new();
        for c in CONTROLS {
            out.push((
                DEMO_START,
                event(
                    h,
                    "postern_control_status",
                    DEMO_START,
                    "added",
                    self.row(c, DEMO_START),
                ),
            ));
        }
        out.push((
            DEMO_START + HOUR,
            event(
                h,
                "some_other_query",
                DEMO_START + HOUR,
                "added",
                json!({"x": "1"}),
            ),
        ));
        let change = |out: &mut Vec<(i64, Value)>, c: &str, t: i64| {
            if t <= self.end() {
                out.push((
                    t,
                    event(
                        h,
                        "postern_control_status",
                        t,
                        "removed",
                        self.row(c, t - 1),
                    ),
                ));
                out.push((
                    t,
                    event(h, "postern_control_status", t, "added", self.row(c, t)),
                ));
            }
        };
        if let Some(t) = self.edr_fixed() {
            change(&mut out, "edr", t);
        }
        if let Some((broke, fixed)) = self.firewall() {
            change(&mut out, "firewall", broke);
            change(&mut out, "firewall", fixed);
        }
        if self.i % 5 == 2 && self.days > 2 {
            let seen = DEMO_START + 2 * DAY + 9 * HOUR;
            let tool = json!({"tool_id": "anydesk", "name": "AnyDesk", "category": "remote_desktop", "evidence_type": "process"});
            out.push((
                seen,
                event(
                    h,
                    "postern_remote_access_unapproved",
                    seen,
                    "added",
                    tool.clone(),
                ),
            ));
            out.push((seen, event(h, "postern_new_unmanaged_software", seen, "added",
                json!({"name": "anydesk", "source": "deb", "install_time": (seen - 45 * 60).to_string(), "remote_access_tool": "anydesk"}))));
            if self.i % 10 == 2 {
                out.push((
                    seen + 30 * 60,
                    event(
                        h,
                        "postern_remote_access_unapproved",
                        seen + 30 * 60,
                        "removed",
                        tool,
                    ),
                ));
            }
        }
        if self.days > 1 {
            let installed = DEMO_START + DAY;
            out.push((installed + 15 * 60, event(h, "postern_new_unmanaged_software", installed + 15 * 60, "added",
                json!({"name": format!("tool-{}", self.i), "source": "deb", "install_time": installed.to_string(), "remote_access_tool": ""}))));
        }
        out.sort_by_key(|(t, _)| *t);
        out
    }

    /// The last day's `postern_hygiene_snapshot`: four apps, of which a
    /// security update waits on hosts with `i % 4 == 1`, the OS is past its
    /// end of life on `i % 10 == 3`, a remote access tool is redundant on
    /// `i % 7 == 0`, and an app is unused for 200 days on `i % 3 == 0`.
    /// The last day's `postern_laptop_farm_snapshot`: hosts with
    /// `i % 25 == 7` are farm laptops (an IP-KVM, Astrill, the lid closed:
    /// score 90, investigate); hosts with `i % 5 == 2` otherwise have a
    /// long uptime (10); the rest nothing.
    fn farm(&self, t: i64) -> Value {
        let i = self.i;
        let mut rows = Vec::new();
        let score = if i % 25 == 7 {
            rows.push(json!({"signal": "ip_kvm", "category": "hardware", "status": "present", "weight": "40"}));
            rows.push(json!({"signal": "consumer_vpn", "category": "vpn_proxy", "status": "present", "weight": "30"}));
            rows.push(json!({"signal": "lid_closed_external_display", "category": "shelf_posture", "status": "present", "weight": "20"}));
            90
        } else if i % 5 == 2 {
            rows.push(json!({"signal": "long_uptime", "category": "shelf_posture", "status": "present", "weight": "10"}));
            10
        } else {
            0
        };
        rows.push(json!({"signal": "score", "category": "summary", "status": if score >= 50 { "investigate" } else { "clear" }, "weight": score.to_string()}));
        let mut m = header(&self.name, "postern_laptop_farm_snapshot", t);
        m.insert("snapshot".into(), Value::Array(rows));
        m.insert("action".into(), json!("snapshot"));
        Value::Object(m)
    }

    fn hygiene(&self, t: i64) -> Value {
        let i = self.i;
        let flag = |b: bool| if b { "1" } else { "0" };
        let rows = json!([
            {"name": "openssl", "source": "deb", "outdated": flag(i % 4 == 1), "security_update": if i % 4 == 1 { "1" } else { "" }, "eol": "", "redundant_with": "", "unused_days": "0"},
            {"name": "Debian GNU/Linux", "source": "os", "outdated": "", "security_update": "", "eol": flag(i % 10 == 3), "redundant_with": "", "unused_days": ""},
            {"name": "anydesk", "source": "deb", "function": "remote_access", "outdated": "0", "security_update": "", "eol": "", "redundant_with": if i % 7 == 0 { "teamviewer" } else { "" }, "unused_days": "1"},
            {"name": "gimp", "source": "deb", "outdated": "0", "security_update": "", "eol": "", "redundant_with": "", "unused_days": if i % 3 == 0 { "200" } else { "5" }},
        ]);
        let mut m = header(&self.name, "postern_hygiene_snapshot", t);
        m.insert("snapshot".into(), rows);
        m.insert("action".into(), json!("snapshot"));
        Value::Object(m)
    }

    /// The daily snapshot of every control, in snapshot format.
    fn snapshot(&self, t: i64) -> Value {
        let rows: Vec<Value> = CONTROLS.iter().map(|c| self.row(c, t)).collect();
        let mut m = header(&self.name, "postern_control_snapshot", t);
        m.insert("snapshot".into(), Value::Array(rows));
        m.insert("action".into(), json!("snapshot"));
        Value::Object(m)
    }
}

/// Writes the demo log, one JSON object a line; returns the number of lines.
pub fn write_to(out: &mut impl Write, hosts: usize, days: i64) -> std::io::Result<usize> {
    let days = days.max(1);
    let hosts: Vec<Host> = (0..hosts)
        .map(|i| Host {
            i,
            name: format!("h{i:03}"),
            days,
        })
        .collect();
    let mut n = 0usize;
    let mut line = |out: &mut dyn Write, text: &str| -> std::io::Result<()> {
        n += 1;
        if n % 100 == 0 {
            writeln!(out, "{{\"truncated\": ")?;
            n += 1;
        }
        writeln!(out, "{text}")
    };
    for day in 0..days {
        let (from, to) = (DEMO_START + day * DAY, DEMO_START + (day + 1) * DAY);
        for host in &hosts {
            for (t, e) in host.events() {
                if from <= t && t < to {
                    line(out, &e.to_string())?;
                }
            }
            line(out, &host.snapshot(to - 1).to_string())?;
            if day == days - 1 {
                line(out, &host.hygiene(to - 3600).to_string())?;
                line(out, &host.farm(to - 3000).to_string())?;
            }
        }
    }
    Ok(n)
}

/// Every log line the demo fleet writes.
pub fn lines(hosts: usize, days: i64) -> Vec<String> {
    let mut buf = Vec::new();
    // Writing to memory cannot fail.
    let _ = write_to(&mut buf, hosts, days);
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Writes the demo log to `path`.
pub fn write(path: &std::path::Path, hosts: usize, days: i64) -> std::io::Result<usize> {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let n = write_to(&mut f, hosts, days)?;
    f.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::analyze_lines;

    fn run(hosts: usize, days: i64) -> Value {
        analyze_lines("demo", &lines(hosts, days)).to_json()
    }

    #[test]
    fn demo_figures_are_exact() {
        let r = run(40, 7);
        let control = |name: &str| {
            r["controls"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["control"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(r["hosts"]["total"], 40);
        assert_eq!(r["hosts"]["by_platform"]["darwin"], 4);
        // EDR fails on the 13 hosts with i % 3 == 1; 6 of them (i % 6 == 4)
        // are fixed on day 2 at 12:00: coverage 27/40 on days 0 and 1, then 33/40.
        assert_eq!(r["edr_coverage"]["hosts_passing"], 33);
        assert_eq!(r["edr_coverage"]["share"], 33.0 / 40.0);
        let daily = r["edr_coverage"]["daily"].as_array().unwrap();
        assert_eq!(daily.len(), 7);
        assert_eq!(daily[0]["day"], "2026-01-05");
        assert_eq!(daily[1]["share"], 27.0 / 40.0);
        assert_eq!(daily[2]["share"], 33.0 / 40.0);
        let edr = control("edr");
        assert_eq!(edr["grade"], "C");
        assert_eq!(edr["grade_now"], "C");
        // Host-days: 40 hosts x 7 days; not compliant: 6 fixed hosts x 3 days
        // (days 0-2) and 7 unfixed hosts x 7 days.
        assert_eq!(edr["host_days"], 280);
        assert_eq!(edr["compliant_host_days"], 280 - 18 - 49);
        assert_eq!(edr["daily"][0]["share"], 27.0 / 40.0);
        assert_eq!(edr["daily"][2]["share"], 27.0 / 40.0, "failing until 12:00");
        assert_eq!(edr["daily"][3]["share"], 33.0 / 40.0);
        // No status_since on EDR rows: identified within the 300 s interval.
        assert_eq!(edr["time_to_identify"]["count"], 13);
        assert_eq!(edr["time_to_identify"]["from_interval"], 13);
        assert_eq!(edr["time_to_identify"]["median_s"], 300);
        assert_eq!(r["window"]["days"], 7);
        assert_eq!(edr["open"].as_array().unwrap().len(), 7);
        assert_eq!(edr["time_to_resolve"]["count"], 6);
        assert_eq!(edr["time_to_resolve"]["median_s"], 60 * HOUR);
        // Hosts 0, 4, ..., 36: firewall fixed after 2, 3, ..., 11 hours.
        let firewall = control("firewall");
        assert_eq!(firewall["time_to_resolve"]["count"], 10);
        assert_eq!(firewall["time_to_resolve"]["median_s"], 6 * HOUR);
        assert_eq!(firewall["time_to_resolve"]["p90_s"], 10 * HOUR);
        assert_eq!(firewall["share"], 1.0);
        assert_eq!(firewall["grade"], "A");
        assert_eq!(firewall["compliant_host_days"], 270);
        assert_eq!(firewall["daily"][1]["share"], 30.0 / 40.0);
        assert_eq!(firewall["time_to_identify"]["count"], 10);
        assert_eq!(firewall["time_to_identify"]["from_interval"], 0);
        assert_eq!(firewall["time_to_identify"]["median_s"], 240);
        assert_eq!(r["time_to_identify"]["count"], 23);
        assert_eq!(r["time_to_identify"]["from_interval"], 13);
        // Every control together: 8 x 280 host-days, 67 + 10 not compliant.
        assert_eq!(r["compliance"]["window_share"], 2163.0 / 2240.0);
        assert_eq!(r["compliance"]["grade"], "A");
        assert_eq!(r["compliance"]["share_now"], (320.0 - 7.0) / 320.0);
        assert_eq!(control("screen_lock")["hosts"], 40);
        // AnyDesk on hosts 2, 7, 12, ..., 37 (8); removed after 30 min on 2, 12, 22, 32.
        let ra = &r["remote_access"];
        assert_eq!(ra["hosts_with_unapproved_tools"], 4);
        assert_eq!(ra["tools"][0]["hosts_seen"], 8);
        assert_eq!(ra["tools"][0]["hosts_now"], 4);
        assert_eq!(ra["time_to_resolve"]["count"], 4);
        assert_eq!(ra["time_to_resolve"]["median_s"], 30 * 60);
        assert_eq!(ra["time_to_detect"]["median_s"], 45 * 60);
        assert_eq!(r["new_software"]["unmanaged"], 48);
        assert_eq!(r["new_software"]["top"][0]["name"], "anydesk");
        assert_eq!(r["new_software"]["top"][0]["hosts"], 8);
        assert_eq!(r["new_software"]["top"].as_array().unwrap().len(), 25);
        assert_eq!(r["new_software"]["time_to_detect"]["count"], 48);
        assert_eq!(r["new_software"]["time_to_detect"]["p90_s"], 45 * 60);
        // 4 x 30 min, firewall 2..11 h, 6 x 60 h: the 10th of 20 is 7 h, the 18th 60 h.
        assert_eq!(r["time_to_resolve"]["overall"]["count"], 20);
        assert_eq!(r["time_to_resolve"]["overall"]["median_s"], 7 * HOUR);
        assert_eq!(r["time_to_resolve"]["overall"]["p90_s"], 60 * HOUR);
        assert_eq!(r["time_to_resolve"]["open_findings"], 7 + 4);
        assert_eq!(r["input"]["unknown_query_results"], 40);
        // Attack surface: hosts 1, 5, ..., 37 wait for a security update (10);
        // 3, 13, 23, 33 run an OS past its end (4); 0, 7, ..., 35 have a
        // redundant remote access tool (6); 0, 3, ..., 39 an unused app (14).
        let a = &r["attack_surface"];
        assert_eq!(a["hosts_reporting"], 40);
        assert_eq!(a["fleet"]["apps"], 160);
        assert_eq!(a["fleet"]["security_updates"], 10);
        assert_eq!(a["fleet"]["outdated"], 10);
        assert_eq!(a["fleet"]["eol"], 4);
        assert_eq!(a["fleet"]["redundant"], 6);
        assert_eq!(a["fleet"]["unused"], 14);
        // Worst first: a security update and an EOL OS (h033 also has an
        // unused app, h013 not), then the rest by severity and name.
        assert_eq!(a["worst_hosts"][0]["host"], "h033");
        assert_eq!(a["worst_hosts"][1]["host"], "h013");
        assert_eq!(a["worst_hosts"].as_array().unwrap().len(), 20);
        assert!(r["input"]["malformed"].as_u64().unwrap() > 0);
        let host = |name: &str| {
            r["host_grades"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["host"] == name)
                .unwrap()
                .clone()
        };
        assert_eq!(host("h001")["grade"], "B", "7 of 8 controls pass on h001");
        assert_eq!(host("h004")["grade_now"], "A", "h004's EDR was fixed");
        // ... but it failed on days 0-2 and its firewall on day 1: 52 of 56
        // host-days compliant.
        assert_eq!(host("h004")["window_share"], 52.0 / 56.0);
        assert_eq!(host("h004")["grade"], "B");
    }

    #[test]
    fn demo_counts_the_lines_it_writes() {
        let mut sink = Vec::new();
        let n = write_to(&mut sink, 7, 3).unwrap();
        assert_eq!(n, String::from_utf8(sink).unwrap().lines().count());
    }
}
