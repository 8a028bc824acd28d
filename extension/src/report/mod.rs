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

pub mod chunks;
pub mod demo;
pub mod html;
pub mod input;
pub mod model;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use input::{cell, Action, Line, Row};
pub use model::{Durations, Report};

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
pub fn percentiles(values: &[i64]) -> Durations {
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = |p: f64| {
        let idx = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v.get(idx).copied()
    };
    if v.is_empty() {
        return Durations::default();
    }
    Durations {
        count: v.len(),
        median_s: rank(0.5),
        p90_s: rank(0.9),
    }
}

/// Hash maps keyed by strings and numbers from the logs: foldhash, seeded
/// at random per process.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Strings seen in the logs, each kept once; events refer to them by number.
#[derive(Debug, Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// The last status of a control on a host, as far as the report cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Status {
    #[default]
    Other,
    Pass,
    NotApplicable,
}

#[derive(Debug, Default)]
struct ControlState {
    status: Status,
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
    platform: Option<u32>,
    postern: bool,
    /// `edr` status changes: (time, passing).
    edr: Vec<(i64, bool)>,
}

/// The streaming analysis.
#[derive(Debug, Default)]
pub struct Analyzer {
    /// Host names, platforms, controls, tools, software names and sources.
    names: Names,
    hosts: HashMap<u32, HostState>,
    /// (host, control or control:product)
    controls: HashMap<(u32, u32), ControlState>,
    /// (host, tool)
    tools: HashMap<(u32, u32), ToolState>,
    /// (host, source, name) -> (first logged, install time)
    software: HashMap<(u32, u32, u32), (i64, Option<i64>)>,
    /// (host, tool) -> earliest install time of software that is that tool.
    tool_install: HashMap<(u32, u32), i64>,
    start: Option<i64>,
    end: Option<i64>,
    pub lines: u64,
    pub bytes: u64,
    pub events: u64,
    pub malformed: u64,
    pub examples: Vec<(String, usize, String)>,
    pub unknown: u64,
}

/// What a query's results mean to the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A control's status (differential, failures, snapshot).
    Control,
    /// `postern_remote_access_unapproved`.
    Tool,
    /// `postern_new_unmanaged_software`.
    Software,
    /// `postern_new_software_snapshot` (managed rows are skipped).
    SoftwareSnapshot,
    /// Another query of postern's packs: the host runs postern.
    Postern,
    /// One of postern's core packs (osquery's own tables only).
    Core,
    Unknown,
}

impl Kind {
    fn of(query: &str) -> Kind {
        match query {
            "postern_control_status" | "postern_control_failures" | "postern_control_snapshot" => {
                Kind::Control
            }
            "postern_remote_access_unapproved" => Kind::Tool,
            "postern_new_unmanaged_software" => Kind::Software,
            "postern_new_software_snapshot" => Kind::SoftwareSnapshot,
            "postern_remote_access_inventory"
            | "postern_remote_access_port_only"
            | "postern_ip_kvm_devices"
            | "postern_remote_desktop_enabled"
            | "postern_remote_access_listening" => Kind::Postern,
            q if q.starts_with("postern_core_") => Kind::Core,
            _ => Kind::Unknown,
        }
    }
}

impl Analyzer {
    pub fn malformed_line(&mut self, source: &str, line: usize, error: String) {
        self.malformed += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push((source.to_string(), line, error));
        }
    }

    /// Counts and analyses the lines of one parsed chunk of `source`.
    pub fn apply(&mut self, source: &str, parsed: &chunks::Parsed) {
        self.lines += parsed.counted;
        for (n, line) in parsed.lines() {
            match line {
                Ok(line) => self.add(&line),
                Err(e) => self.malformed_line(source, n, e.to_string()),
            }
        }
    }

    /// Applies every row of one result line.
    pub fn add(&mut self, line: &Line<'_>) {
        self.events += line.rows.len() as u64;
        let kind = Kind::of(&line.query);
        if kind == Kind::Unknown {
            self.unknown += line.rows.len() as u64;
            return;
        }
        if line.rows.is_empty() {
            return;
        }
        let time = line.time;
        self.start = Some(self.start.map_or(time, |s| s.min(time)));
        self.end = Some(self.end.map_or(time, |s| s.max(time)));
        let host_id = self.names.id(&line.host);
        let platform = line.platform.as_deref().map(|p| self.names.id(p));
        let host = self.hosts.entry(host_id).or_default();
        if platform.is_some() {
            host.platform = platform;
        }
        if kind != Kind::Core {
            host.postern = true;
        }
        for (action, row) in &line.rows {
            self.row(host_id, kind, time, *action, row);
        }
    }

    fn row(&mut self, host_id: u32, kind: Kind, time: i64, action: Action, row: &Row<'_>) {
        match kind {
            Kind::Control if action != Action::Removed => {
                let control = cell(&row.control);
                let product = cell(&row.product);
                let status = cell(&row.status);
                if control.is_empty() || status.is_empty() {
                    return;
                }
                let control_id = if product.is_empty() {
                    self.names.id(control)
                } else {
                    self.names.id(&format!("{control}:{product}"))
                };
                if control == "edr" {
                    let passing = status == "pass";
                    if let Some(host) = self.hosts.get_mut(&host_id) {
                        if host.edr.last().is_none_or(|(_, p)| *p != passing) {
                            host.edr.push((time, passing));
                        }
                    }
                }
                let state = self.controls.entry((host_id, control_id)).or_default();
                state.status = match status {
                    "fail" | "degraded" => {
                        state.failing_since.get_or_insert(time);
                        Status::Other
                    }
                    "pass" => {
                        if let Some(since) = state.failing_since.take() {
                            state.resolved.push(time - since);
                        }
                        Status::Pass
                    }
                    "not_applicable" => Status::NotApplicable,
                    _ => Status::Other,
                };
            }
            Kind::Tool => {
                let tool = self.names.id(cell(&row.tool_id));
                let state = self.tools.entry((host_id, tool)).or_default();
                match action {
                    Action::Added => {
                        if state.open_rows == 0 {
                            state.open_since = Some(time);
                        }
                        state.open_rows += 1;
                        state.first_seen.get_or_insert(time);
                    }
                    Action::Removed => {
                        state.open_rows = state.open_rows.saturating_sub(1);
                        if state.open_rows == 0 {
                            if let Some(since) = state.open_since.take() {
                                state.resolved.push(time - since);
                            }
                        }
                    }
                    Action::Snapshot => {}
                }
            }
            Kind::Software | Kind::SoftwareSnapshot if action != Action::Removed => {
                if kind == Kind::SoftwareSnapshot && cell(&row.managed) != "0" {
                    return;
                }
                let install = cell(&row.install_time)
                    .parse::<i64>()
                    .ok()
                    .filter(|t| *t > 0);
                let tool = cell(&row.remote_access_tool);
                if let (false, Some(t)) = (tool.is_empty(), install) {
                    let tool = self.names.id(tool);
                    let entry = self.tool_install.entry((host_id, tool)).or_insert(t);
                    *entry = (*entry).min(t);
                }
                let key = (
                    host_id,
                    self.names.id(cell(&row.source)),
                    self.names.id(cell(&row.name)),
                );
                let entry = self.software.entry(key).or_insert((time, install));
                entry.0 = entry.0.min(time);
            }
            _ => {}
        }
    }

    /// The report as data; JSON is written straight from it.
    pub fn report(&self) -> Report<'_> {
        let end = self.end.unwrap_or(0);
        let start = self.start.unwrap_or(0);
        let name = |id: u32| self.names.name(id);
        let mut by_platform: BTreeMap<&str, u64> = BTreeMap::new();
        for h in self.hosts.values() {
            *by_platform
                .entry(h.platform.map_or("unknown", name))
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
            let day = jiff::Timestamp::from_second(day_end)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default();
            daily.push(model::Day {
                day,
                share: share(passing, reporting.len()),
            });
            day_end += DAY;
        }

        // Per control.
        let mut per_control: BTreeMap<&str, Vec<(&str, &ControlState)>> = BTreeMap::new();
        for ((host, control), state) in &self.controls {
            per_control
                .entry(name(*control))
                .or_default()
                .push((name(*host), state));
        }
        let mut all_resolved = Vec::new();
        let mut open_findings = 0;
        let controls: Vec<model::Control> = per_control
            .into_iter()
            .map(|(control, mut states)| {
                states.sort_unstable_by_key(|(host, _)| *host);
                let applicable = states
                    .iter()
                    .filter(|(_, s)| s.status != Status::NotApplicable)
                    .count();
                let passing = states
                    .iter()
                    .filter(|(_, s)| s.status == Status::Pass)
                    .count();
                let resolved: Vec<i64> = states
                    .iter()
                    .flat_map(|(_, s)| s.resolved.iter().copied())
                    .collect();
                let open: Vec<model::Open> = states
                    .iter()
                    .filter_map(|(host, s)| {
                        s.failing_since.map(|since| model::Open {
                            host,
                            since,
                            age_s: end - since,
                        })
                    })
                    .collect();
                all_resolved.extend(resolved.iter().copied());
                open_findings += open.len();
                let sh = share(passing, applicable);
                model::Control {
                    control,
                    hosts: applicable,
                    passing,
                    share: sh,
                    grade: grade(sh),
                    time_to_resolve: percentiles(&resolved),
                    open,
                }
            })
            .collect();

        // Per host, over the aggregate controls (not per-agent rows).
        let mut per_host: BTreeMap<&str, (u32, usize, usize)> = BTreeMap::new();
        for ((host, control), state) in &self.controls {
            if name(*control).contains(':') || state.status == Status::NotApplicable {
                continue;
            }
            let e = per_host.entry(name(*host)).or_insert((*host, 0, 0));
            e.2 += 1;
            if state.status == Status::Pass {
                e.1 += 1;
            }
        }
        let host_grades = per_host
            .into_iter()
            .map(|(host, (id, passing, controls))| {
                let sh = share(passing, controls);
                model::HostGrade {
                    host,
                    platform: self.hosts.get(&id).and_then(|h| h.platform).map(name),
                    passing,
                    controls,
                    share: sh,
                    grade: grade(sh),
                }
            })
            .collect();

        // Remote access tools: (hosts with it now, hosts ever, first seen).
        let mut by_tool: BTreeMap<&str, (usize, usize, i64)> = BTreeMap::new();
        let mut tool_resolved = Vec::new();
        let mut tool_ttd = Vec::new();
        let mut tool_open = Vec::new();
        let mut hosts_with_tools: BTreeSet<u32> = BTreeSet::new();
        for ((host, tool), s) in &self.tools {
            tool_resolved.extend(s.resolved.iter().copied());
            if s.open_rows > 0 {
                hosts_with_tools.insert(*host);
            }
            if let Some(first) = s.first_seen {
                let e = by_tool.entry(name(*tool)).or_insert((0, 0, first));
                e.2 = e.2.min(first);
                e.1 += 1;
                if s.open_rows > 0 {
                    e.0 += 1;
                }
                if let Some(installed) = self.tool_install.get(&(*host, *tool)) {
                    if *installed <= first {
                        tool_ttd.push(first - installed);
                    }
                }
            }
            if let Some(since) = s.open_since {
                tool_open.push(model::OpenTool {
                    host: name(*host),
                    tool_id: name(*tool),
                    since,
                    age_s: end - since,
                });
            }
        }
        tool_open.sort_unstable_by_key(|o| (o.host, o.tool_id));
        open_findings += tool_open.len();
        let tools = by_tool
            .into_iter()
            .map(
                |(tool_id, (hosts_now, hosts_seen, first_seen))| model::Tool {
                    tool_id,
                    hosts_now,
                    hosts_seen,
                    first_seen,
                },
            )
            .collect();

        // New unmanaged software.
        let mut sw_host: BTreeMap<&str, u64> = BTreeMap::new();
        let mut sw_week: BTreeMap<String, u64> = BTreeMap::new();
        let mut sw_ttd = Vec::new();
        let mut sw_name: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for ((host, source, software), (first, install)) in &self.software {
            *sw_host.entry(name(*host)).or_default() += 1;
            *sw_name.entry((name(*software), name(*source))).or_default() += 1;
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
        top.truncate(TOP_SOFTWARE);
        all_resolved.extend(tool_resolved.iter().copied());
        Report {
            schema: model::SCHEMA,
            window: model::Window {
                start: self.start,
                end: self.end,
            },
            input: model::Input {
                lines: self.lines,
                bytes: self.bytes,
                events: self.events,
                malformed: self.malformed,
                malformed_examples: self
                    .examples
                    .iter()
                    .map(|(source, line, error)| model::Malformed {
                        source,
                        line: *line,
                        error,
                    })
                    .collect(),
                unknown_query_results: self.unknown,
            },
            hosts: model::Hosts {
                total: self.hosts.len(),
                by_platform,
                with_postern,
                without_postern: self.hosts.len() - with_postern,
            },
            edr_coverage: model::EdrCoverage {
                share: share(passing_end, reporting.len()),
                hosts_passing: passing_end,
                hosts_reporting: reporting.len(),
                daily,
            },
            controls,
            host_grades,
            remote_access: model::RemoteAccess {
                hosts_with_unapproved_tools: hosts_with_tools.len(),
                tools,
                time_to_detect: percentiles(&tool_ttd),
                time_to_resolve: percentiles(&tool_resolved),
                open: tool_open,
            },
            new_software: model::NewSoftware {
                unmanaged: self.software.len(),
                per_host: sw_host
                    .into_iter()
                    .map(|(host, count)| model::HostCount { host, count })
                    .collect(),
                per_week: sw_week
                    .into_iter()
                    .map(|(week, count)| model::WeekCount { week, count })
                    .collect(),
                top: top
                    .into_iter()
                    .map(|((name, source), hosts)| model::Software {
                        name,
                        source,
                        hosts,
                    })
                    .collect(),
                time_to_detect: percentiles(&sw_ttd),
            },
            time_to_resolve: model::TimeToResolve {
                overall: percentiles(&all_resolved),
                open_findings,
            },
        }
    }

    /// The report as a JSON value (tests, small reports).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.report()).unwrap_or(Value::Null)
    }
}

/// A Unix time as a UTC date and time.
fn when(t: Option<i64>) -> String {
    t.and_then(|t| jiff::Timestamp::from_second(t).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A duration in seconds for a person: minutes, hours or days.
fn duration(v: Option<i64>) -> String {
    match v {
        None => "-".into(),
        Some(s) if s < 3600 => format!("{}m", s / 60),
        Some(s) if s < 2 * DAY => format!("{:.1}h", s as f64 / 3600.0),
        Some(s) => format!("{:.1}d", s as f64 / DAY as f64),
    }
}

fn pct(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

/// The report for a person.
pub fn to_text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "postern report: {} hosts ({} with postern, {} without); {} events from {} lines, {} malformed, {} results of other queries",
        r.hosts.total, r.hosts.with_postern, r.hosts.without_postern, r.input.events,
        r.input.lines, r.input.malformed, r.input.unknown_query_results
    );
    for ex in &r.input.malformed_examples {
        let _ = writeln!(s, "  malformed: {}:{}: {}", ex.source, ex.line, ex.error);
    }
    let e = &r.edr_coverage;
    let _ = writeln!(
        s,
        "EDR coverage: {} ({} of {} hosts)",
        pct(e.share),
        e.hosts_passing,
        e.hosts_reporting
    );
    s.push_str("Controls (share of hosts passing, grade, time to resolve median/p90, open):\n");
    for c in &r.controls {
        let _ = writeln!(
            s,
            "  {:<32} {:>5} {}  {}/{}  open {}",
            c.control,
            pct(c.share),
            c.grade,
            duration(c.time_to_resolve.median_s),
            duration(c.time_to_resolve.p90_s),
            c.open.len()
        );
    }
    let ra = &r.remote_access;
    let _ = writeln!(
        s,
        "Remote access: {} hosts with unapproved tools; detect {}/{}, resolve {}/{}",
        ra.hosts_with_unapproved_tools,
        duration(ra.time_to_detect.median_s),
        duration(ra.time_to_detect.p90_s),
        duration(ra.time_to_resolve.median_s),
        duration(ra.time_to_resolve.p90_s)
    );
    for t in &ra.tools {
        let _ = writeln!(
            s,
            "  {:<28} on {} hosts now, {} ever, first seen {}",
            t.tool_id,
            t.hosts_now,
            t.hosts_seen,
            when(Some(t.first_seen))
        );
    }
    let sw = &r.new_software;
    let _ = writeln!(
        s,
        "New unmanaged software: {} items; time to detect {}/{}",
        sw.unmanaged,
        duration(sw.time_to_detect.median_s),
        duration(sw.time_to_detect.p90_s)
    );
    for t in sw.top.iter().take(10) {
        let _ = writeln!(s, "  {:<28} {} on {} hosts", t.name, t.source, t.hosts);
    }
    if !sw.per_week.is_empty() {
        s.push_str("  per week of install:\n");
    }
    for w in &sw.per_week {
        let _ = writeln!(s, "    {} {}", w.week, w.count);
    }
    let _ = writeln!(
        s,
        "Time to resolve, overall: median {}, p90 {}; open findings {}",
        duration(r.time_to_resolve.overall.median_s),
        duration(r.time_to_resolve.overall.p90_s),
        r.time_to_resolve.open_findings
    );
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

/// The analysis of lines held in memory, numbered from 1, through the same
/// parsing path as files.
pub fn analyze_lines<S: AsRef<str>>(source: &str, lines: &[S]) -> Analyzer {
    let mut text = String::new();
    for line in lines {
        text.push_str(line.as_ref());
        text.push('\n');
    }
    let mut a = Analyzer {
        bytes: text.len() as u64,
        ..Analyzer::default()
    };
    a.apply(source, &chunks::parse(1, text.as_bytes()));
    a
}

/// Threads that parse when the caller does not say: one a core, up to 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// Reads every source into a new analysis, parsing on `threads` threads
/// (1: all on this one).
pub fn analyze(paths: &[std::path::PathBuf], threads: usize) -> Result<Analyzer, String> {
    let mut a = Analyzer::default();
    let files = input::expand(paths).map_err(|e| format!("cannot list the inputs: {e}"))?;
    let bar = progress(&files);
    let workers = if threads <= 1 { 0 } else { threads };
    for file in files {
        let shown = file.display().to_string();
        let advance = bar.clone();
        let mut reader = match input::open(&file, Box::new(move |n| advance.inc(n))) {
            Ok(r) => r,
            Err(e) => {
                a.malformed_line(&shown, 0, format!("cannot open: {e}"));
                continue;
            }
        };
        let result = chunks::each_parsed(reader.as_mut(), workers, &mut |parsed| {
            a.apply(&shown, parsed);
        });
        match result {
            Ok(bytes) => a.bytes += bytes,
            Err(e) => a.malformed_line(&shown, 0, format!("read stopped: {e}")),
        }
    }
    bar.finish_and_clear();
    Ok(a)
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
            percentiles(&[100, 20, 30, 40, 50, 60, 70, 80, 90, 10]),
            Durations {
                count: 10,
                median_s: Some(50),
                p90_s: Some(90)
            }
        );
        assert_eq!(percentiles(&[7]).p90_s, Some(7));
        assert_eq!(
            serde_json::to_value(percentiles(&[])).unwrap(),
            serde_json::json!({"count": 0, "median_s": null, "p90_s": null})
        );
    }
}
