//! `postern report`: coverage, compliance grades and time-to-detect /
//! time-to-resolve figures from osquery result logs of postern's packs.
//!
//! The analysis is a stream: every event updates per-host, per-finding
//! state, so memory grows with hosts × findings, never with the size of the
//! logs. Malformed lines are counted (the first few kept with their line
//! numbers); results of queries postern does not know are counted and
//! skipped.
//!
//! Grades: a share of passing controls of at least 95 % is A, 85 % B, 70 %
//! C, 50 % D, below F; per control (share of hosts passing it) and per host
//! (share of its controls passing). `not_applicable` is left out of both.

pub mod demo;
pub mod html;
pub mod input;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use input::{Action, Event};

/// Malformed lines kept as examples.
const EXAMPLES: usize = 5;
const DAY: i64 = 86_400;
/// Software names listed in `new_software.top`, most hosts first.
const TOP_SOFTWARE: usize = 25;

/// The grade of a share of passing controls (0.0 – 1.0).
pub fn grade(share: f64) -> &'static str {
    if share >= 0.95 {
        "A"
    } else if share >= 0.85 {
        "B"
    } else if share >= 0.70 {
        "C"
    } else if share >= 0.50 {
        "D"
    } else {
        "F"
    }
}

/// Median and 90th percentile (nearest rank) of durations in seconds.
pub fn percentiles(values: &[i64]) -> Value {
    if values.is_empty() {
        return json!({"count": 0, "median_s": null, "p90_s": null});
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = |p: f64| {
        let idx = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v.get(idx).copied().unwrap_or_default()
    };
    json!({"count": v.len(), "median_s": rank(0.5), "p90_s": rank(0.9)})
}

#[derive(Debug, Default)]
struct ControlState {
    status: String,
    failing_since: Option<i64>,
    resolved: Vec<i64>,
}

#[derive(Debug, Default)]
struct ToolState {
    open_rows: u32,
    open_since: Option<i64>,
    first_seen: Option<i64>,
    resolved: Vec<i64>,
}

#[derive(Debug, Default)]
struct HostState {
    platform: Option<String>,
    postern: bool,
    /// `edr` status changes: (time, passing).
    edr: Vec<(i64, bool)>,
}

/// The streaming analysis.
#[derive(Debug, Default)]
pub struct Analyzer {
    hosts: BTreeMap<String, HostState>,
    controls: BTreeMap<(String, String), ControlState>,
    tools: BTreeMap<(String, String), ToolState>,
    /// (host, source, name) -> (first logged, install time)
    software: BTreeMap<(String, String, String), (i64, Option<i64>)>,
    /// (host, tool) -> earliest install time of software that is that tool.
    tool_install: BTreeMap<(String, String), i64>,
    start: Option<i64>,
    end: Option<i64>,
    pub lines: u64,
    pub bytes: u64,
    pub events: u64,
    pub malformed: u64,
    pub examples: Vec<(String, usize, String)>,
    pub unknown: u64,
}

fn cell<'a>(row: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

fn int(row: &serde_json::Map<String, Value>, key: &str) -> Option<i64> {
    match row.get(key)? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

impl Analyzer {
    pub fn malformed_line(&mut self, source: &str, line: usize, error: String) {
        self.malformed += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push((source.to_string(), line, error));
        }
    }

    pub fn add(&mut self, e: Event) {
        self.events += 1;
        let known = matches!(
            e.query.as_str(),
            "postern_control_status"
                | "postern_control_failures"
                | "postern_control_snapshot"
                | "postern_remote_access_unapproved"
                | "postern_new_unmanaged_software"
                | "postern_new_software_snapshot"
                | "postern_remote_access_inventory"
                | "postern_remote_access_port_only"
                | "postern_ip_kvm_devices"
                | "postern_remote_desktop_enabled"
                | "postern_remote_access_listening"
        ) || e.query.starts_with("postern_core_");
        if !known {
            self.unknown += 1;
            return;
        }
        self.start = Some(self.start.map_or(e.time, |s| s.min(e.time)));
        self.end = Some(self.end.map_or(e.time, |s| s.max(e.time)));
        let host = self.hosts.entry(e.host.clone()).or_default();
        if e.platform.is_some() {
            host.platform = e.platform.clone();
        }
        if !e.query.starts_with("postern_core_") {
            host.postern = true;
        }
        match e.query.as_str() {
            "postern_control_status" | "postern_control_failures" | "postern_control_snapshot"
                if e.action != Action::Removed =>
            {
                let control = cell(&e.row, "control");
                let product = cell(&e.row, "product");
                let status = cell(&e.row, "status").to_string();
                if control.is_empty() || status.is_empty() {
                    return;
                }
                let key = if product.is_empty() {
                    control.to_string()
                } else {
                    format!("{control}:{product}")
                };
                if control == "edr" {
                    let passing = status == "pass";
                    if host.edr.last().is_none_or(|(_, p)| *p != passing) {
                        host.edr.push((e.time, passing));
                    }
                }
                let state = self.controls.entry((e.host, key)).or_default();
                match status.as_str() {
                    "fail" | "degraded" => {
                        state.failing_since.get_or_insert(e.time);
                    }
                    "pass" => {
                        if let Some(since) = state.failing_since.take() {
                            state.resolved.push(e.time - since);
                        }
                    }
                    _ => {}
                }
                state.status = status;
            }
            "postern_remote_access_unapproved" => {
                let tool = cell(&e.row, "tool_id").to_string();
                let state = self.tools.entry((e.host, tool)).or_default();
                match e.action {
                    Action::Added => {
                        if state.open_rows == 0 {
                            state.open_since = Some(e.time);
                        }
                        state.open_rows += 1;
                        state.first_seen.get_or_insert(e.time);
                    }
                    Action::Removed => {
                        state.open_rows = state.open_rows.saturating_sub(1);
                        if state.open_rows == 0 {
                            if let Some(since) = state.open_since.take() {
                                state.resolved.push(e.time - since);
                            }
                        }
                    }
                    Action::Snapshot => {}
                }
            }
            "postern_new_unmanaged_software" | "postern_new_software_snapshot"
                if e.action != Action::Removed =>
            {
                if e.query == "postern_new_software_snapshot" && cell(&e.row, "managed") != "0" {
                    return;
                }
                let install = int(&e.row, "install_time").filter(|t| *t > 0);
                let tool = cell(&e.row, "remote_access_tool");
                if let (false, Some(t)) = (tool.is_empty(), install) {
                    let entry = self
                        .tool_install
                        .entry((e.host.clone(), tool.to_string()))
                        .or_insert(t);
                    *entry = (*entry).min(t);
                }
                let key = (
                    e.host,
                    cell(&e.row, "source").to_string(),
                    cell(&e.row, "name").to_string(),
                );
                let entry = self.software.entry(key).or_insert((e.time, install));
                entry.0 = entry.0.min(e.time);
            }
            _ => {}
        }
    }

    /// The report as JSON (schema `postern.report/1`, docs/REPORT.md).
    pub fn to_json(&self) -> Value {
        let end = self.end.unwrap_or(0);
        let start = self.start.unwrap_or(0);
        let mut by_platform: BTreeMap<String, u64> = BTreeMap::new();
        for h in self.hosts.values() {
            *by_platform
                .entry(h.platform.clone().unwrap_or_else(|| "unknown".into()))
                .or_default() += 1;
        }
        let with_postern = self.hosts.values().filter(|h| h.postern).count();

        // EDR coverage at the end and per day.
        let edr_at = |h: &HostState, t: i64| {
            h.edr
                .iter()
                .rev()
                .find(|(at, _)| *at <= t)
                .is_some_and(|(_, p)| *p)
        };
        let reporting: Vec<&HostState> = self.hosts.values().filter(|h| h.postern).collect();
        let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let passing_end = reporting.iter().filter(|h| edr_at(h, end)).count();
        let mut daily = Vec::new();
        let mut day_end = start - start.rem_euclid(DAY) + DAY - 1;
        while start > 0 && day_end - DAY < end {
            let passing = reporting.iter().filter(|h| edr_at(h, day_end)).count();
            let date = jiff::Timestamp::from_second(day_end)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
            daily.push(json!({"day": date, "share": share(passing, reporting.len())}));
            day_end += DAY;
        }

        // Per control.
        let mut per_control: BTreeMap<&str, Vec<(&str, &ControlState)>> = BTreeMap::new();
        for ((host, control), state) in &self.controls {
            per_control
                .entry(control.as_str())
                .or_default()
                .push((host.as_str(), state));
        }
        let mut all_resolved = Vec::new();
        let mut all_open = Vec::new();
        let controls: Vec<Value> = per_control
            .iter()
            .map(|(control, states)| {
                let applicable: Vec<_> = states.iter().filter(|(_, s)| s.status != "not_applicable").collect();
                let passing = applicable.iter().filter(|(_, s)| s.status == "pass").count();
                let resolved: Vec<i64> = states.iter().flat_map(|(_, s)| s.resolved.iter().copied()).collect();
                let open: Vec<Value> = states
                    .iter()
                    .filter_map(|(h, s)| s.failing_since.map(|since| json!({"host": h, "since": since, "age_s": end - since})))
                    .collect();
                all_resolved.extend(resolved.iter().copied());
                all_open.extend(open.iter().cloned());
                let sh = share(passing, applicable.len());
                json!({"control": control, "hosts": applicable.len(), "passing": passing, "share": sh,
                       "grade": grade(sh), "time_to_resolve": percentiles(&resolved), "open": open})
            })
            .collect();

        // Per host, over the aggregate controls (not per-agent rows).
        let mut per_host: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for ((host, control), state) in &self.controls {
            if control.contains(':') || state.status == "not_applicable" {
                continue;
            }
            let e = per_host.entry(host.as_str()).or_default();
            e.1 += 1;
            if state.status == "pass" {
                e.0 += 1;
            }
        }
        let host_grades: Vec<Value> = per_host
            .iter()
            .map(|(host, (p, t))| {
                let sh = share(*p, *t);
                json!({"host": host, "platform": self.hosts.get(*host).and_then(|h| h.platform.clone()),
                       "passing": p, "controls": t, "share": sh, "grade": grade(sh)})
            })
            .collect();

        // Remote access tools.
        let mut by_tool: BTreeMap<&str, (BTreeSet<&str>, i64)> = BTreeMap::new();
        let mut tool_resolved = Vec::new();
        let mut tool_ttd = Vec::new();
        let mut tool_open = Vec::new();
        for ((host, tool), s) in &self.tools {
            tool_resolved.extend(s.resolved.iter().copied());
            if let Some(first) = s.first_seen {
                let e = by_tool
                    .entry(tool.as_str())
                    .or_insert((BTreeSet::new(), first));
                e.1 = e.1.min(first);
                if s.open_rows > 0 {
                    e.0.insert(host.as_str());
                }
                if let Some(installed) = self.tool_install.get(&(host.clone(), tool.clone())) {
                    if *installed <= first {
                        tool_ttd.push(first - installed);
                    }
                }
            }
            if let Some(since) = s.open_since {
                tool_open.push(
                    json!({"host": host, "tool_id": tool, "since": since, "age_s": end - since}),
                );
            }
        }
        let hosts_with_tools: BTreeSet<&str> = self
            .tools
            .iter()
            .filter(|(_, s)| s.open_rows > 0)
            .map(|((h, _), _)| h.as_str())
            .collect();
        let mut seen_on: BTreeMap<&str, usize> = BTreeMap::new();
        for ((_, tool), s) in &self.tools {
            if s.first_seen.is_some() {
                *seen_on.entry(tool.as_str()).or_default() += 1;
            }
        }
        let tools: Vec<Value> = by_tool
            .iter()
            .map(|(tool, (hosts, first))| {
                json!({"tool_id": tool, "hosts_now": hosts.len(),
                       "hosts_seen": seen_on.get(tool).copied().unwrap_or_default(), "first_seen": first})
            })
            .collect();

        // New unmanaged software.
        let mut sw_host: BTreeMap<&str, u64> = BTreeMap::new();
        let mut sw_week: BTreeMap<String, u64> = BTreeMap::new();
        let mut sw_ttd = Vec::new();
        let mut sw_name: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for ((host, source, name), (first, install)) in &self.software {
            *sw_host.entry(host.as_str()).or_default() += 1;
            *sw_name.entry((name.as_str(), source.as_str())).or_default() += 1;
            let when = install.unwrap_or(*first);
            let week = jiff::Timestamp::from_second(when)
                .map(|t| {
                    let d = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).iso_week_date();
                    format!("{}-W{:02}", d.year(), d.week())
                })
                .unwrap_or_default();
            *sw_week.entry(week).or_default() += 1;
            if let Some(i) = install {
                if *i <= *first {
                    sw_ttd.push(first - i);
                }
            }
        }
        let mut top: Vec<((&str, &str), u64)> = sw_name.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<Value> = top
            .iter()
            .take(TOP_SOFTWARE)
            .map(|((name, source), hosts)| json!({"name": name, "source": source, "hosts": hosts}))
            .collect();
        all_resolved.extend(tool_resolved.iter().copied());
        json!({
            "schema": "postern.report/1",
            "window": {"start": self.start, "end": self.end},
            "input": {
                "lines": self.lines, "bytes": self.bytes, "events": self.events, "malformed": self.malformed,
                "malformed_examples": self.examples.iter().map(|(s, l, e)| json!({"source": s, "line": l, "error": e})).collect::<Vec<_>>(),
                "unknown_query_results": self.unknown,
            },
            "hosts": {"total": self.hosts.len(), "by_platform": by_platform, "with_postern": with_postern,
                      "without_postern": self.hosts.len() - with_postern},
            "edr_coverage": {"share": share(passing_end, reporting.len()), "hosts_passing": passing_end,
                             "hosts_reporting": reporting.len(), "daily": daily},
            "controls": controls,
            "host_grades": host_grades,
            "remote_access": {"hosts_with_unapproved_tools": hosts_with_tools.len(), "tools": tools,
                              "time_to_detect": percentiles(&tool_ttd), "time_to_resolve": percentiles(&tool_resolved),
                              "open": tool_open},
            "new_software": {"unmanaged": self.software.len(),
                             "per_host": sw_host.iter().map(|(h, n)| json!({"host": h, "count": n})).collect::<Vec<_>>(),
                             "per_week": sw_week.iter().map(|(w, n)| json!({"week": w, "count": n})).collect::<Vec<_>>(),
                             "top": top,
                             "time_to_detect": percentiles(&sw_ttd)},
            "time_to_resolve": {"overall": percentiles(&all_resolved), "open_findings": all_open.len() + self.tools.values().filter(|s| s.open_since.is_some()).count()},
        })
    }
}

/// A Unix time as a UTC date and time.
fn when(v: &Value) -> String {
    v.as_i64()
        .and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

fn duration(v: &Value) -> String {
    match v.as_i64() {
        None => "-".into(),
        Some(s) if s < 3600 => format!("{}m", s / 60),
        Some(s) if s < 2 * DAY => format!("{:.1}h", s as f64 / 3600.0),
        Some(s) => format!("{:.1}d", s as f64 / DAY as f64),
    }
}

/// The report for a person.
// Indexing a `serde_json::Value` by key yields `Null` when the key is
// missing; it cannot panic.
#[allow(clippy::indexing_slicing)]
pub fn to_text(r: &Value) -> String {
    let mut s = String::new();
    let pct = |v: &Value| format!("{:.0}%", v.as_f64().unwrap_or(0.0) * 100.0);
    s.push_str(&format!(
        "postern report: {} hosts ({} with postern, {} without); {} events from {} lines, {} malformed, {} results of other queries\n",
        r["hosts"]["total"], r["hosts"]["with_postern"], r["hosts"]["without_postern"], r["input"]["events"],
        r["input"]["lines"], r["input"]["malformed"], r["input"]["unknown_query_results"]
    ));
    for ex in r["input"]["malformed_examples"]
        .as_array()
        .into_iter()
        .flatten()
    {
        s.push_str(&format!(
            "  malformed: {}:{}: {}\n",
            ex["source"].as_str().unwrap_or(""),
            ex["line"],
            ex["error"].as_str().unwrap_or("")
        ));
    }
    s.push_str(&format!(
        "EDR coverage: {} ({} of {} hosts)\n",
        pct(&r["edr_coverage"]["share"]),
        r["edr_coverage"]["hosts_passing"],
        r["edr_coverage"]["hosts_reporting"]
    ));
    s.push_str("Controls (share of hosts passing, grade, time to resolve median/p90, open):\n");
    for c in r["controls"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {:<32} {:>5} {}  {}/{}  open {}\n",
            c["control"].as_str().unwrap_or(""),
            pct(&c["share"]),
            c["grade"].as_str().unwrap_or(""),
            duration(&c["time_to_resolve"]["median_s"]),
            duration(&c["time_to_resolve"]["p90_s"]),
            c["open"].as_array().map_or(0, Vec::len)
        ));
    }
    let ra = &r["remote_access"];
    s.push_str(&format!(
        "Remote access: {} hosts with unapproved tools; detect {}/{}, resolve {}/{}\n",
        ra["hosts_with_unapproved_tools"],
        duration(&ra["time_to_detect"]["median_s"]),
        duration(&ra["time_to_detect"]["p90_s"]),
        duration(&ra["time_to_resolve"]["median_s"]),
        duration(&ra["time_to_resolve"]["p90_s"])
    ));
    for t in ra["tools"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {:<28} on {} hosts now, {} ever, first seen {}\n",
            t["tool_id"].as_str().unwrap_or(""),
            t["hosts_now"],
            t["hosts_seen"],
            when(&t["first_seen"])
        ));
    }
    let sw = &r["new_software"];
    s.push_str(&format!(
        "New unmanaged software: {} items; time to detect {}/{}\n",
        sw["unmanaged"],
        duration(&sw["time_to_detect"]["median_s"]),
        duration(&sw["time_to_detect"]["p90_s"])
    ));
    for t in sw["top"].as_array().into_iter().flatten().take(10) {
        s.push_str(&format!(
            "  {:<28} {} on {} hosts\n",
            t["name"].as_str().unwrap_or(""),
            t["source"].as_str().unwrap_or(""),
            t["hosts"]
        ));
    }
    s.push_str("  per week of install:\n");
    for w in sw["per_week"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "    {} {}\n",
            w["week"].as_str().unwrap_or(""),
            w["count"]
        ));
    }
    s.push_str(&format!(
        "Time to resolve, overall: median {}, p90 {}; open findings {}\n",
        duration(&r["time_to_resolve"]["overall"]["median_s"]),
        duration(&r["time_to_resolve"]["overall"]["p90_s"]),
        r["time_to_resolve"]["open_findings"]
    ));
    s
}

/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_THRESHOLD: u64 = 64 << 20;

/// A progress bar over the input bytes, when a person is watching and the
/// input is large; hidden otherwise.
fn progress(files: &[std::path::PathBuf]) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    if !std::io::stderr().is_terminal() || total < PROGRESS_THRESHOLD {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// Reads every source into a new analysis.
pub fn analyze(paths: &[std::path::PathBuf]) -> Result<Analyzer, String> {
    let mut a = Analyzer::default();
    let files = input::expand(paths).map_err(|e| format!("cannot list the inputs: {e}"))?;
    let bar = progress(&files);
    for file in files {
        // Compressed files advance the bar by their size on disk once read.
        let on_disk = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let shown = file.display().to_string();
        let mut reader = match input::open(&file) {
            Ok(r) => r,
            Err(e) => {
                a.malformed_line(&shown, 0, format!("cannot open: {e}"));
                continue;
            }
        };
        let result = input::for_each_line(reader.as_mut(), &mut |n, line| {
            feed(&mut a, &shown, n, line.and_then(input::parse_line));
        });
        match result {
            Ok(bytes) => a.bytes += bytes,
            Err(e) => a.malformed_line(&shown, 0, format!("read stopped: {e}")),
        }
        bar.inc(on_disk);
    }
    bar.finish_and_clear();
    Ok(a)
}

fn feed(a: &mut Analyzer, source: &str, n: usize, parsed: Result<Vec<Event>, String>) {
    a.lines += 1;
    match parsed {
        Ok(events) => events.into_iter().for_each(|e| a.add(e)),
        Err(e) => a.malformed_line(source, n, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_and_percentiles() {
        assert_eq!(
            [grade(1.0), grade(0.9), grade(0.7), grade(0.5), grade(0.1)],
            ["A", "B", "C", "D", "F"]
        );
        assert_eq!(
            percentiles(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]),
            json!({"count": 10, "median_s": 50, "p90_s": 90})
        );
        assert_eq!(
            percentiles(&[]),
            json!({"count": 0, "median_s": null, "p90_s": null})
        );
    }
}
