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
pub mod timeline;

use std::collections::BTreeMap;

use serde_json::Value;

use input::{cell, Action, Line, Row};
pub use model::{Durations, Report};
use timeline::Status;

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

/// Events kept for one host before it counts as flooded: far above what
/// a year of postern's packs logs for a host (about 200,000), far below
/// what would let one host exhaust the report's memory.
pub const MAX_HOST_EVENTS: u64 = 1_000_000;
/// Distinct new software items kept for one host, likewise.
pub const MAX_HOST_SOFTWARE: u32 = 100_000;
/// Days in the daily series: the most recent ones.
pub const MAX_DAYS: usize = 400;
/// Days without use after which an app counts as unused (as the table says).
const UNUSED_DAYS: u64 = 90;
/// Hosts listed in the attack-surface section.
const WORST_HOSTS: usize = 20;
/// A host stands out when it wrote this many times the median host's lines.
const STANDS_OUT: u64 = 10;

#[derive(Debug, Default)]
struct HostState {
    /// The platform of the host's latest line that names one: (time, name).
    platform: Option<(i64, u32)>,
    postern: bool,
    /// Result lines (of any query) the host contributed.
    lines: u64,
    /// Rows the host contributed to the timelines, duplicates included.
    raw_events: u64,
    /// Control events (`timeline`), sorted and deduplicated by `finish`.
    events: Vec<u64>,
    /// Remote access tool rows, likewise.
    tools: Vec<timeline::ToolRow>,
    software: u32,
    flooded: bool,
}

/// The analysis: what it keeps is the same whatever order the lines come
/// in; `report` replays each host's events in time order.
#[derive(Debug, Default)]
pub struct Analyzer {
    /// Host names, platforms, software names and sources.
    names: Names,
    /// Controls (`control` or `control:product`) and tool ids.
    keys: Names,
    /// Identities of remote access tool rows (their evidence).
    rows: Names,
    hosts: HashMap<u32, HostState>,
    /// (host, key, time) of a failing result -> its `status_since` (min).
    since: HashMap<(u32, u32, u32), u32>,
    /// (host, source, name) -> (first logged, install time), both minimums.
    software: HashMap<(u32, u32, u32), (i64, Option<i64>)>,
    /// (host, tool) -> earliest install time of software that is that tool.
    tool_install: HashMap<(u32, u32), i64>,
    /// Newest plausible result time (0: now plus a day, set on first use).
    latest: i64,
    /// Rows kept per host before it counts as flooded (0: MAX_HOST_EVENTS).
    budget: u64,
    /// (host, time) -> the attack-surface counts of that hygiene snapshot.
    hygiene: HashMap<(u32, i64), model::SurfaceCounts>,
    /// (host, time) -> that laptop_farm_signals snapshot: score, verdict,
    /// and the signals present with their weights.
    farm: HashMap<(u32, i64), FarmSnapshot>,
    finished: bool,
    pub lines: u64,
    pub bytes: u64,
    pub events: u64,
    pub malformed: u64,
    pub examples: Vec<(String, usize, String)>,
    pub unknown: u64,
}

/// One host's laptop_farm_signals snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct FarmSnapshot {
    score: u64,
    investigate: bool,
    /// (signal, weight), sorted.
    signals: Vec<(String, u64)>,
}

/// What a query's results mean to the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A control's status (differential, failures, snapshot).
    Control(timeline::Class),
    /// `postern_remote_access_unapproved`.
    Tool,
    /// `postern_new_unmanaged_software`.
    Software,
    /// `postern_new_software_snapshot` (managed rows are skipped).
    SoftwareSnapshot,
    /// `postern_hygiene_snapshot`: the host's attack surface that day.
    Hygiene,
    /// `postern_laptop_farm_snapshot`: the host's laptop-farm signals.
    Farm,
    /// Another query of postern's packs: the host runs postern.
    Postern,
    /// One of postern's core packs (osquery's own tables only).
    Core,
    Unknown,
}

impl Kind {
    fn of(query: &str) -> Kind {
        use timeline::Class;
        match query {
            "postern_control_status" => Kind::Control(Class::Detect),
            "postern_control_failures" => Kind::Control(Class::Hourly),
            "postern_control_snapshot" => Kind::Control(Class::Daily),
            "postern_remote_access_unapproved" => Kind::Tool,
            "postern_new_unmanaged_software" => Kind::Software,
            "postern_new_software_snapshot" => Kind::SoftwareSnapshot,
            "postern_hygiene_snapshot" => Kind::Hygiene,
            "postern_laptop_farm_snapshot" => Kind::Farm,
            "postern_remote_access_inventory"
            | "postern_hygiene_security_updates"
            | "postern_hygiene_redundant_remote_access"
            | "postern_laptop_farm_over_threshold"
            | "postern_laptop_farm_signals"
            | "postern_remote_access_port_only"
            | "postern_ip_kvm_devices"
            | "postern_remote_desktop_enabled"
            | "postern_remote_access_listening" => Kind::Postern,
            q if q.starts_with("postern_core_") => Kind::Core,
            _ => Kind::Unknown,
        }
    }
}

/// Every time a host's kept rows were logged at.
fn host_times(h: &HostState) -> impl Iterator<Item = i64> + '_ {
    h.events
        .iter()
        .map(|e| timeline::time_of(*e))
        .chain(h.tools.iter().map(|r| r.time))
        .map(timeline::abs)
}

/// The newest result time the report accepts: a day after now.
fn latest_plausible() -> i64 {
    crate::engine::unix_now() + DAY
}

/// One control's figures over the fleet, gathered host by host.
#[derive(Debug, Default)]
struct ControlAgg {
    now: Vec<(u32, Status)>,
    resolved: Vec<i64>,
    identify: Vec<i64>,
    from_interval: usize,
    open: Vec<(u32, i64, i64)>,
    /// Per series day: (compliant, counted) host-days.
    days: Vec<(u32, u32)>,
}

impl Analyzer {
    pub fn malformed_line(&mut self, source: &str, line: usize, error: String) {
        self.malformed += 1;
        // The first examples in (source, line) order, whatever the order read.
        let key = (source, line);
        if self.examples.len() < EXAMPLES
            || self
                .examples
                .last()
                .is_some_and(|(s, l, _)| key < (s.as_str(), *l))
        {
            self.examples.push((source.to_string(), line, error));
            self.examples
                .sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
            self.examples.truncate(EXAMPLES);
        }
    }

    /// Counts and analyses the lines of one parsed chunk of `source`.
    pub fn apply(&mut self, source: &str, parsed: &chunks::Parsed) {
        if self.latest == 0 {
            self.latest = latest_plausible();
        }
        self.lines += parsed.counted;
        for (n, line) in parsed.lines() {
            match line {
                Ok(line) if line.time < timeline::EPOCH_2000 || line.time > self.latest => {
                    let error = format!(
                        "unixTime {} is outside 2000-01-01 .. {}",
                        line.time,
                        when(Some(self.latest))
                    );
                    self.malformed_line(source, n, error);
                }
                Ok(line) => self.add(&line),
                Err(e) => self.malformed_line(source, n, e.to_string()),
            }
        }
    }

    /// Applies every row of one result line (its time already checked).
    pub fn add(&mut self, line: &Line<'_>) {
        let Some(time) = timeline::rel(line.time) else {
            return;
        };
        self.events += line.rows.len() as u64;
        let host_id = self.names.id(&line.host);
        let kind = Kind::of(&line.query);
        let platform = match line.platform.as_deref() {
            Some(p) if kind != Kind::Unknown => Some(self.names.id(p)),
            _ => None,
        };
        let host = self.hosts.entry(host_id).or_default();
        host.lines += 1;
        if kind == Kind::Unknown {
            self.unknown += line.rows.len() as u64;
            return;
        }
        if line.rows.is_empty() || host.flooded {
            return;
        }
        if let Some(p) = platform {
            host.platform = host.platform.max(Some((line.time, p)));
        }
        if kind != Kind::Core {
            host.postern = true;
        }
        if kind == Kind::Farm {
            // One snapshot is one line: the score row and the signals
            // present, kept per host and time like hygiene's.
            let mut f = FarmSnapshot::default();
            for (_, row) in &line.rows {
                let signal = cell(&row.signal);
                let weight = cell(&row.weight).parse::<u64>().unwrap_or(0);
                if signal == "score" {
                    f.score = weight;
                    f.investigate = cell(&row.status) == "investigate";
                } else if cell(&row.status) == "present"
                    && !signal.is_empty()
                    && f.signals.len() < 64
                {
                    f.signals.push((signal.to_string(), weight));
                }
            }
            f.signals.sort();
            f.signals.dedup();
            let entry = self.farm.entry((host_id, line.time)).or_default();
            if f > *entry {
                *entry = f;
            }
            return;
        }
        if kind == Kind::Hygiene {
            // One snapshot is one line: its counts, kept per host and time
            // (the latest is used, whatever order lines come in).
            let mut c = model::SurfaceCounts::default();
            for (_, row) in &line.rows {
                c.apps += 1;
                c.outdated += u64::from(cell(&row.outdated) == "1");
                c.security_updates += u64::from(cell(&row.security_update) == "1");
                c.eol += u64::from(cell(&row.eol) == "1");
                c.redundant += u64::from(!cell(&row.redundant_with).is_empty());
                c.unused += u64::from(
                    cell(&row.unused_days)
                        .parse::<u64>()
                        .is_ok_and(|d| d >= UNUSED_DAYS),
                );
            }
            let entry = self.hygiene.entry((host_id, line.time)).or_default();
            *entry = (*entry).max(c);
            return;
        }
        for (action, row) in &line.rows {
            self.row(host_id, kind, time, *action, row);
        }
    }

    /// Keeps one timeline event of a host; a host over its budget is
    /// flooded: its events are dropped and it is left out of the figures.
    fn keep(&mut self, host_id: u32, event: Result<u64, timeline::ToolRow>) {
        let budget = self.budget();
        let Some(host) = self.hosts.get_mut(&host_id) else {
            return;
        };
        if host.flooded {
            return;
        }
        host.raw_events += 1;
        if host.raw_events > budget {
            self.flood(host_id);
            return;
        }
        match event {
            Ok(e) if host.events.last() != Some(&e) => host.events.push(e),
            Err(row) if host.tools.last() != Some(&row) => host.tools.push(row),
            _ => {}
        }
    }

    fn budget(&self) -> u64 {
        if self.budget == 0 {
            MAX_HOST_EVENTS
        } else {
            self.budget
        }
    }

    /// An analysis whose hosts may each keep at most `events` rows (tests).
    pub fn with_budget(events: u64) -> Self {
        Analyzer {
            budget: events,
            ..Analyzer::default()
        }
    }

    fn flood(&mut self, host_id: u32) {
        if let Some(host) = self.hosts.get_mut(&host_id) {
            host.flooded = true;
            host.events = Vec::new();
            host.tools = Vec::new();
        }
        self.since.retain(|(h, _, _), _| *h != host_id);
        self.hygiene.retain(|(h, _), _| *h != host_id);
        self.farm.retain(|(h, _), _| *h != host_id);
        self.software.retain(|(h, _, _), _| *h != host_id);
        self.tool_install.retain(|(h, _), _| *h != host_id);
    }

    fn row(&mut self, host_id: u32, kind: Kind, time: u32, action: Action, row: &Row<'_>) {
        match kind {
            Kind::Control(class) if action != Action::Removed => {
                let control = cell(&row.control);
                let product = cell(&row.product);
                let status = cell(&row.status);
                if control.is_empty() || status.is_empty() {
                    return;
                }
                let key = if product.is_empty() {
                    self.keys.id(control)
                } else {
                    self.keys.id(&format!("{control}:{product}"))
                };
                if key >= timeline::MAX_KEYS {
                    return;
                }
                let status = Status::parse(status);
                self.keep(
                    host_id,
                    Ok(timeline::control_event(time, key, status, class)),
                );
                let since = cell(&row.status_since).parse::<i64>().ok();
                if let (true, Some(since)) = (status.failing(), since.and_then(timeline::rel)) {
                    if since <= time && self.hosts.get(&host_id).is_some_and(|h| !h.flooded) {
                        let e = self.since.entry((host_id, key, time)).or_insert(since);
                        *e = (*e).min(since);
                    }
                }
            }
            Kind::Tool if action != Action::Snapshot => {
                let key = self.keys.id(cell(&row.tool_id));
                let identity = [&row.evidence_type, &row.evidence, &row.path, &row.pid]
                    .map(cell)
                    .join("\u{1f}");
                let row = self.rows.id(&identity);
                let added = action == Action::Added;
                self.keep(
                    host_id,
                    Err(timeline::ToolRow {
                        key,
                        time,
                        added,
                        row,
                    }),
                );
            }
            Kind::Software | Kind::SoftwareSnapshot if action != Action::Removed => {
                if kind == Kind::SoftwareSnapshot && cell(&row.managed) != "0" {
                    return;
                }
                let install = cell(&row.install_time)
                    .parse::<i64>()
                    .ok()
                    .filter(|t| *t > 0);
                let key = (
                    host_id,
                    self.names.id(cell(&row.source)),
                    self.names.id(cell(&row.name)),
                );
                let time = timeline::abs(time);
                let fresh = !self.software.contains_key(&key);
                let over = match self.hosts.get_mut(&host_id) {
                    Some(h) if fresh => {
                        h.software += 1;
                        h.software > MAX_HOST_SOFTWARE
                    }
                    _ => false,
                };
                if over {
                    self.flood(host_id);
                    return;
                }
                let tool = cell(&row.remote_access_tool);
                if let (false, Some(t)) = (tool.is_empty(), install) {
                    let tool = self.keys.id(tool);
                    let entry = self.tool_install.entry((host_id, tool)).or_insert(t);
                    *entry = (*entry).min(t);
                }
                let entry = self.software.entry(key).or_insert((time, install));
                entry.0 = entry.0.min(time);
                entry.1 = match (entry.1, install) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            _ => {}
        }
    }

    /// Sorts each host's events (once): from here on the input order is gone.
    fn finish(&mut self) {
        if self.finished {
            return;
        }
        for host in self.hosts.values_mut() {
            host.events.sort_unstable();
            host.events.dedup();
            host.events.shrink_to_fit();
            host.tools.sort_unstable();
            host.tools.dedup();
        }
        self.finished = true;
    }

    /// The report as data; JSON is written straight from it.
    pub fn report(&mut self) -> Report<'_> {
        self.finish();
        let this: &Analyzer = self;
        this.build()
    }

    fn build(&self) -> Report<'_> {
        let name = |id: u32| self.names.name(id);
        let key_name = |id: u32| self.keys.name(id);
        let share = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let day_of = |t: i64| t - t.rem_euclid(DAY);

        // Hosts in name order; flooded hosts are listed, not analysed.
        let mut hosts: Vec<(&str, u32, &HostState)> = self
            .hosts
            .iter()
            .map(|(id, h)| (name(*id), *id, h))
            .collect();
        hosts.sort_unstable_by_key(|(n, _, _)| *n);
        let analysed = || hosts.iter().filter(|(_, _, h)| !h.flooded);

        // The days the fleet reported: a day counts when at least half as
        // many hosts reported on it as on the median day, so that one host's
        // odd clock cannot stretch everyone's series.
        let mut day_hosts: BTreeMap<i64, (u32, i64, i64)> = BTreeMap::new();
        for (_, _, h) in analysed() {
            let mut host_days: Vec<i64> = Vec::new();
            for t in host_times(h) {
                let d = day_hosts
                    .entry(day_of(t))
                    .or_insert((0, i64::MAX, i64::MIN));
                d.1 = d.1.min(t);
                d.2 = d.2.max(t);
                host_days.push(day_of(t));
            }
            host_days.sort_unstable();
            host_days.dedup();
            for day in host_days {
                if let Some(d) = day_hosts.get_mut(&day) {
                    d.0 += 1;
                }
            }
        }
        let mut counts: Vec<u32> = day_hosts.values().map(|d| d.0).collect();
        counts.sort_unstable();
        let median = counts.get(counts.len() / 2).copied().unwrap_or(0);
        let threshold = median.div_ceil(2).max(1);
        let mut series: Vec<(i64, i64, i64)> = day_hosts
            .iter()
            .filter(|(_, d)| d.0 >= threshold)
            .map(|(day, d)| (*day, d.1, d.2))
            .collect();
        let skip = series.len().saturating_sub(MAX_DAYS);
        series.drain(..skip);
        let days: Vec<i64> = series.iter().map(|d| d.0).collect();
        let start = series.first().map(|d| d.1);
        let end = series.last().map(|d| d.2);
        let end_t = end.unwrap_or(0);
        let day_name = |d: i64| {
            jiff::Timestamp::from_second(d)
                .map(|t| t.strftime("%Y-%m-%d").to_string())
                .unwrap_or_default()
        };

        // Replay every host's events, key by key.
        let mut controls: HashMap<u32, ControlAgg> = HashMap::default();
        let mut edr_daily = vec![0usize; days.len()];
        let mut edr_now = 0usize;
        let mut by_tool: BTreeMap<&str, (usize, usize, i64)> = BTreeMap::new();
        let mut tool_resolved = Vec::new();
        let mut tool_ttd = Vec::new();
        let mut tool_open = Vec::new();
        let mut hosts_with_tools = 0usize;
        let mut host_grades = Vec::new();
        let mut by_platform: BTreeMap<&str, u64> = BTreeMap::new();
        let mut with_postern = 0usize;
        let edr_key = self.keys.ids.get("edr").copied();
        for (host, id, h) in analysed() {
            *by_platform
                .entry(h.platform.map_or("unknown", |(_, p)| name(p)))
                .or_default() += 1;
            if h.postern {
                with_postern += 1;
            }
            let last_seen = host_times(h).max().unwrap_or(0);
            let until = day_of(last_seen) + DAY - 1;
            let (mut passing, mut counted, mut ok_days, mut all_days) = (0, 0, 0u32, 0u32);
            let mut has_tool = false;
            for checks in h
                .events
                .chunk_by(|a, b| timeline::key_of(*a) == timeline::key_of(*b))
            {
                let Some(key) = checks.first().map(|e| timeline::key_of(*e)) else {
                    continue;
                };
                if !checks.is_empty() {
                    let obs = timeline::observations(checks);
                    let agg = controls.entry(key).or_default();
                    if agg.days.is_empty() {
                        agg.days = vec![(0, 0); days.len()];
                    }
                    let final_status = obs.last().map_or(Status::Unknown, |o| o.status);
                    agg.now.push((*id, final_status));
                    for ep in timeline::control_episodes(&obs) {
                        let since = timeline::rel(ep.opened)
                            .and_then(|t| self.since.get(&(*id, key, t)))
                            .map(|s| timeline::abs(*s));
                        match since {
                            Some(s) if s <= ep.opened => agg.identify.push(ep.opened - s),
                            _ => {
                                agg.identify.push(ep.interval);
                                agg.from_interval += 1;
                            }
                        }
                        match (ep.resolved, ep.withdrawn) {
                            (Some(r), _) => agg.resolved.push(r - ep.opened),
                            (None, false) => agg.open.push((*id, ep.opened, last_seen)),
                            (None, true) => {}
                        }
                    }
                    let aggregate = !key_name(key).contains(':');
                    for (slot, day) in agg
                        .days
                        .iter_mut()
                        .zip(timeline::compliant_days(&obs, &days, until))
                    {
                        if let Some(ok) = day {
                            slot.1 += 1;
                            slot.0 += u32::from(ok);
                            if aggregate {
                                all_days += 1;
                                ok_days += u32::from(ok);
                            }
                        }
                    }
                    if aggregate && final_status != Status::NotApplicable {
                        counted += 1;
                        passing += usize::from(final_status == Status::Pass);
                    }
                    if Some(key) == edr_key {
                        edr_now += usize::from(final_status == Status::Pass);
                        for (n, day) in edr_daily.iter_mut().zip(&days) {
                            let at = timeline::status_at(&obs, day + DAY - 1);
                            *n += usize::from(at == Some(Status::Pass));
                        }
                    }
                }
            }
            for tools in h.tools.chunk_by(|a, b| a.key == b.key) {
                let Some(key) = tools.first().map(|r| r.key) else {
                    continue;
                };
                {
                    let presences = timeline::tool_episodes(tools);
                    let Some(first) = presences.first().map(|p| p.since) else {
                        continue;
                    };
                    let now = presences.last().is_some_and(|p| p.gone.is_none());
                    has_tool |= now;
                    let e = by_tool.entry(key_name(key)).or_insert((0, 0, first));
                    e.2 = e.2.min(first);
                    e.1 += 1;
                    e.0 += usize::from(now);
                    if let Some(installed) = self.tool_install.get(&(*id, key)) {
                        if *installed <= first {
                            tool_ttd.push(first - installed);
                        }
                    }
                    for p in presences {
                        match p.gone {
                            Some(g) => tool_resolved.push(g - p.since),
                            None => tool_open.push(model::OpenTool {
                                host,
                                tool_id: key_name(key),
                                since: p.since,
                                age_s: end_t - p.since,
                                last_seen,
                            }),
                        }
                    }
                }
            }
            hosts_with_tools += usize::from(has_tool);
            if counted > 0 {
                let sh = share(passing, counted);
                let window = share(ok_days as usize, all_days as usize);
                host_grades.push(model::HostGrade {
                    host,
                    platform: h.platform.map(|(_, p)| name(p)),
                    passing,
                    controls: counted,
                    share: sh,
                    grade_now: grade(sh),
                    window_share: (all_days > 0).then_some(window),
                    grade: grade(if all_days > 0 { window } else { sh }),
                });
            }
        }

        // Per control, in name order.
        let mut per_control: Vec<(&str, &ControlAgg)> =
            controls.iter().map(|(k, a)| (key_name(*k), a)).collect();
        per_control.sort_unstable_by_key(|(n, _)| *n);
        let mut all_resolved = Vec::new();
        let mut all_identify = Vec::new();
        let mut all_from_interval = 0;
        let mut open_findings = 0;
        let mut overall_days = vec![(0u32, 0u32); days.len()];
        let (mut now_pass, mut now_counted) = (0usize, 0usize);
        let controls: Vec<model::Control> = per_control
            .into_iter()
            .map(|(control, agg)| {
                let applicable = agg
                    .now
                    .iter()
                    .filter(|(_, s)| *s != Status::NotApplicable)
                    .count();
                let passing = agg.now.iter().filter(|(_, s)| *s == Status::Pass).count();
                let (ok, all) = agg.days.iter().fold((0u64, 0u64), |a, d| {
                    (a.0 + u64::from(d.0), a.1 + u64::from(d.1))
                });
                if !control.contains(':') {
                    for (o, d) in overall_days.iter_mut().zip(&agg.days) {
                        o.0 += d.0;
                        o.1 += d.1;
                    }
                    now_pass += passing;
                    now_counted += applicable;
                }
                let mut open: Vec<model::Open> = agg
                    .open
                    .iter()
                    .map(|(host, since, last_seen)| model::Open {
                        host: name(*host),
                        since: *since,
                        age_s: end_t - since,
                        last_seen: *last_seen,
                    })
                    .collect();
                open.sort_unstable_by_key(|o| (o.host, o.since));
                all_resolved.extend(agg.resolved.iter().copied());
                all_identify.extend(agg.identify.iter().copied());
                all_from_interval += agg.from_interval;
                open_findings += open.len();
                let sh = share(passing, applicable);
                let window = (all > 0).then(|| ok as f64 / all as f64);
                model::Control {
                    control,
                    hosts: applicable,
                    passing,
                    share: sh,
                    grade_now: grade(sh),
                    host_days: all,
                    compliant_host_days: ok,
                    window_share: window,
                    grade: grade(window.unwrap_or(sh)),
                    daily: days
                        .iter()
                        .zip(&agg.days)
                        .filter(|(_, d)| d.1 > 0)
                        .map(|(day, d)| model::Day {
                            day: day_name(*day),
                            share: f64::from(d.0) / f64::from(d.1),
                        })
                        .collect(),
                    time_to_identify: model::Identify {
                        durations: percentiles(&agg.identify),
                        from_interval: agg.from_interval,
                    },
                    time_to_resolve: percentiles(&agg.resolved),
                    open,
                }
            })
            .collect();
        open_findings += tool_open.len();
        all_resolved.extend(tool_resolved.iter().copied());
        let (ok, all) = overall_days.iter().fold((0u64, 0u64), |a, d| {
            (a.0 + u64::from(d.0), a.1 + u64::from(d.1))
        });
        let overall_window = (all > 0).then(|| ok as f64 / all as f64);
        let overall_now = share(now_pass, now_counted);

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

        // New unmanaged software, of the analysed hosts.
        let flooded = |h: u32| self.hosts.get(&h).is_some_and(|s| s.flooded);
        let mut sw_host: BTreeMap<&str, u64> = BTreeMap::new();
        let mut sw_week: BTreeMap<String, u64> = BTreeMap::new();
        let mut sw_ttd = Vec::new();
        let mut sw_name: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        let mut unmanaged = 0;
        for ((host, source, software), (first, install)) in &self.software {
            if flooded(*host) {
                continue;
            }
            unmanaged += 1;
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

        // Lines per host: who stands out, who flooded.
        let mut lines: Vec<u64> = hosts.iter().map(|(_, _, h)| h.lines).collect();
        lines.sort_unstable();
        let median_lines = lines.get(lines.len() / 2).copied().unwrap_or(0);
        let mut standing_out: Vec<model::HostLines> = hosts
            .iter()
            .filter(|(_, _, h)| h.lines >= 1000 && h.lines >= STANDS_OUT * median_lines.max(1))
            .map(|(host, _, h)| model::HostLines {
                host,
                lines: h.lines,
                events: h.raw_events,
            })
            .collect();
        standing_out.sort_by(|a, b| b.lines.cmp(&a.lines).then(a.host.cmp(b.host)));
        standing_out.truncate(10);
        let flooded_hosts: Vec<model::HostLines> = hosts
            .iter()
            .filter(|(_, _, h)| h.flooded)
            .map(|(host, _, h)| model::HostLines {
                host,
                lines: h.lines,
                events: h.raw_events,
            })
            .collect();

        // Attack surface: each host's latest hygiene snapshot.
        let mut latest: BTreeMap<u32, (i64, model::SurfaceCounts)> = BTreeMap::new();
        for ((host, time), counts) in &self.hygiene {
            if flooded(*host) {
                continue;
            }
            let e = latest.entry(*host).or_insert((*time, *counts));
            if (*time, *counts) > *e {
                *e = (*time, *counts);
            }
        }
        let mut total = model::SurfaceCounts::default();
        let mut per_host: Vec<model::HostSurface> = latest
            .iter()
            .map(|(host, (time, c))| {
                total.add(c);
                model::HostSurface {
                    host: name(*host),
                    at: *time,
                    counts: *c,
                }
            })
            .collect();
        let hosts_reporting_hygiene = per_host.len();
        per_host.sort_by(|a, b| {
            b.counts
                .severity()
                .cmp(&a.counts.severity())
                .then(a.host.cmp(b.host))
        });
        per_host.truncate(WORST_HOSTS);

        // Laptop-farm signals: each host's latest snapshot.
        let mut farm_latest: BTreeMap<u32, (i64, &FarmSnapshot)> = BTreeMap::new();
        for ((host, time), f) in &self.farm {
            if flooded(*host) {
                continue;
            }
            let e = farm_latest.entry(*host).or_insert((*time, f));
            if (*time, f) > (e.0, e.1) {
                *e = (*time, f);
            }
        }
        let mut signal_hosts: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, f) in farm_latest.values() {
            let mut seen: Vec<&str> = f.signals.iter().map(|(s, _)| s.as_str()).collect();
            seen.dedup();
            for sig in seen {
                *signal_hosts.entry(sig).or_default() += 1;
            }
        }
        let mut top_signals: Vec<model::SignalHosts> = signal_hosts
            .into_iter()
            .map(|(signal, hosts)| model::SignalHosts { signal, hosts })
            .collect();
        top_signals.sort_by(|a, b| b.hosts.cmp(&a.hosts).then(a.signal.cmp(b.signal)));
        top_signals.truncate(WORST_HOSTS);
        let mut over: Vec<model::FarmHost> = farm_latest
            .iter()
            .filter(|(_, (_, f))| f.investigate)
            .map(|(host, (time, f))| {
                let mut signals: Vec<&(String, u64)> = f.signals.iter().collect();
                signals.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                model::FarmHost {
                    host: name(*host),
                    at: *time,
                    score: f.score,
                    signals: signals.iter().map(|(s, _)| s.as_str()).take(8).collect(),
                }
            })
            .collect();
        let hosts_over = over.len();
        over.sort_by(|a, b| b.score.cmp(&a.score).then(a.host.cmp(b.host)));
        over.truncate(WORST_HOSTS);
        let farm_reporting = farm_latest.len();

        let reporting = with_postern;
        Report {
            schema: model::SCHEMA,
            window: model::Window {
                start,
                end,
                days: days.len(),
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
                median_lines_per_host: median_lines,
                hosts_standing_out: standing_out,
                hosts_flooded: flooded_hosts,
            },
            hosts: model::Hosts {
                total: hosts.len(),
                by_platform,
                with_postern,
                without_postern: hosts.len() - with_postern,
            },
            edr_coverage: model::EdrCoverage {
                share: share(edr_now, reporting),
                hosts_passing: edr_now,
                hosts_reporting: reporting,
                daily: days
                    .iter()
                    .zip(&edr_daily)
                    .map(|(day, n)| model::Day {
                        day: day_name(*day),
                        share: share(*n, reporting),
                    })
                    .collect(),
            },
            compliance: model::Compliance {
                share_now: overall_now,
                grade_now: grade(overall_now),
                window_share: overall_window,
                grade: grade(overall_window.unwrap_or(overall_now)),
                daily: days
                    .iter()
                    .zip(&overall_days)
                    .filter(|(_, d)| d.1 > 0)
                    .map(|(day, d)| model::Day {
                        day: day_name(*day),
                        share: f64::from(d.0) / f64::from(d.1),
                    })
                    .collect(),
            },
            controls,
            host_grades,
            remote_access: model::RemoteAccess {
                hosts_with_unapproved_tools: hosts_with_tools,
                tools,
                time_to_detect: percentiles(&tool_ttd),
                time_to_resolve: percentiles(&tool_resolved),
                open: {
                    tool_open.sort_unstable_by_key(|o| (o.host, o.tool_id, o.since));
                    tool_open
                },
            },
            new_software: model::NewSoftware {
                unmanaged,
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
            attack_surface: model::AttackSurface {
                hosts_reporting: hosts_reporting_hygiene,
                fleet: total,
                worst_hosts: per_host,
            },
            laptop_farm: model::LaptopFarm {
                hosts_reporting: farm_reporting,
                hosts_over_threshold: hosts_over,
                over_threshold: over,
                top_signals,
            },
            time_to_identify: model::Identify {
                durations: percentiles(&all_identify),
                from_interval: all_from_interval,
            },
            time_to_resolve: model::TimeToResolve {
                overall: percentiles(&all_resolved),
                open_findings,
            },
        }
    }

    /// The report as a JSON value (tests, small reports).
    pub fn to_json(&mut self) -> Value {
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
    for h in &r.input.hosts_flooded {
        let _ = writeln!(
            s,
            "  left out: {} wrote {} lines, {} rows (over the per-host budget)",
            h.host, h.lines, h.events
        );
    }
    for h in &r.input.hosts_standing_out {
        let _ = writeln!(
            s,
            "  stands out: {} wrote {} lines (median host: {})",
            h.host, h.lines, r.input.median_lines_per_host
        );
    }
    let e = &r.edr_coverage;
    let _ = writeln!(
        s,
        "EDR coverage: {} ({} of {} hosts)",
        pct(e.share),
        e.hosts_passing,
        e.hosts_reporting
    );
    let c = &r.compliance;
    let _ = writeln!(
        s,
        "Compliance: {} of host-days over {} days (grade {}); now {} (grade {})",
        c.window_share.map_or("-".into(), pct),
        r.window.days,
        c.grade,
        pct(c.share_now),
        c.grade_now
    );
    let i = &r.time_to_identify;
    let _ = writeln!(
        s,
        "Time to identify: median {}, p90 {} ({} of {} from the query interval: the host did not say since when)",
        duration(i.durations.median_s),
        duration(i.durations.p90_s),
        i.from_interval,
        i.durations.count
    );
    s.push_str("Controls (window share and grade | now | identify median/p90 | resolve median/p90 | open):\n");
    for c in &r.controls {
        let _ = writeln!(
            s,
            "  {:<32} {:>5} {} | {:>5} {} | {}/{} | {}/{} | open {}",
            c.control,
            c.window_share.map_or("-".into(), pct),
            c.grade,
            pct(c.share),
            c.grade_now,
            duration(c.time_to_identify.durations.median_s),
            duration(c.time_to_identify.durations.p90_s),
            duration(c.time_to_resolve.median_s),
            duration(c.time_to_resolve.p90_s),
            c.open.len()
        );
    }
    let ra = &r.remote_access;
    let _ = writeln!(
        s,
        "Remote access: {} with unapproved tools; detect {}/{}, resolve {}/{}",
        html::count(ra.hosts_with_unapproved_tools, "host"),
        duration(ra.time_to_detect.median_s),
        duration(ra.time_to_detect.p90_s),
        duration(ra.time_to_resolve.median_s),
        duration(ra.time_to_resolve.p90_s)
    );
    for t in &ra.tools {
        let _ = writeln!(
            s,
            "  {:<28} on {} now, {} ever, first seen {}",
            t.tool_id,
            html::count(t.hosts_now, "host"),
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
        let _ = writeln!(
            s,
            "  {:<28} {} on {}",
            t.name,
            t.source,
            html::count(t.hosts as usize, "host")
        );
    }
    if !sw.per_week.is_empty() {
        s.push_str("  per week of install:\n");
    }
    for w in &sw.per_week {
        let _ = writeln!(s, "    {} {}", w.week, w.count);
    }
    let a = &r.attack_surface;
    if a.hosts_reporting > 0 {
        let f = &a.fleet;
        let _ = writeln!(
            s,
            "Attack surface ({} reporting, {} apps): {} waiting for a security update, {} outdated, {} past end of life, {} redundant, {} unused 90+ days",
            html::count(a.hosts_reporting, "host"),
            f.apps,
            f.security_updates,
            f.outdated,
            f.eol,
            f.redundant,
            f.unused
        );
        for h in a.worst_hosts.iter().take(10) {
            let c = &h.counts;
            let _ = writeln!(
                s,
                "  {:<28} security {} eol {} redundant {} outdated {} unused {}",
                h.host, c.security_updates, c.eol, c.redundant, c.outdated, c.unused
            );
        }
    }
    let lf = &r.laptop_farm;
    if lf.hosts_reporting > 0 {
        let _ = writeln!(
            s,
            "Laptop-farm signals ({} reporting): {} over the threshold (a reason to look, not proof)",
            html::count(lf.hosts_reporting, "host"),
            lf.hosts_over_threshold
        );
        for h in lf.over_threshold.iter().take(10) {
            let _ = writeln!(
                s,
                "  {:<28} score {:>3}  {}",
                h.host,
                h.score,
                h.signals.join(", ")
            );
        }
        if !lf.top_signals.is_empty() {
            let top: Vec<String> = lf
                .top_signals
                .iter()
                .take(8)
                .map(|t| format!("{} {}", t.signal, t.hosts))
                .collect();
            let _ = writeln!(s, "  signals by hosts: {}", top.join(", "));
        }
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

    fn status_line(host: &str, t: i64, action: &str, control: &str, status: &str) -> String {
        format!(
            r#"{{"name":"pack/postern-control-health/postern_control_status","hostIdentifier":"{host}","unixTime":{t},"action":"{action}","columns":{{"control":"{control}","product":"","status":"{status}"}}}}"#
        )
    }

    fn tool_line(host: &str, t: i64, action: &str, pid: u32) -> String {
        format!(
            r#"{{"name":"postern_remote_access_unapproved","hostIdentifier":"{host}","unixTime":{t},"action":"{action}","columns":{{"tool_id":"anydesk","evidence_type":"process","evidence":"anydesk","path":"/usr/bin/anydesk","pid":"{pid}"}}}}"#
        )
    }

    const T: i64 = 1_767_571_200;

    #[test]
    fn a_tool_restarting_in_one_second_stays_open() {
        let lines = [
            tool_line("a", T, "added", 10),
            // osquery's event format: the old pid removed, the new one added.
            tool_line("a", T + 600, "removed", 10),
            tool_line("a", T + 600, "added", 11),
            tool_line("a", T + 7_200, "removed", 11),
        ];
        let r = analyze_lines("t", &lines).to_json();
        assert_eq!(r["remote_access"]["time_to_resolve"]["count"], 1);
        assert_eq!(r["remote_access"]["time_to_resolve"]["median_s"], 7_200);
    }

    #[test]
    fn implausible_times_are_malformed_with_their_line_and_bounded() {
        let mut lines = vec![status_line("a", T, "added", "edr", "fail")];
        lines.push(status_line("a", 1_000_000_000_000, "added", "edr", "pass"));
        lines.push(status_line(
            "a",
            9_223_372_036_854_775_807,
            "added",
            "edr",
            "pass",
        ));
        lines.push(status_line("a", 12, "added", "edr", "pass"));
        let start = std::time::Instant::now();
        let r = analyze_lines("forged.log", &lines).to_json();
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(r["input"]["malformed"], 3);
        let ex = &r["input"]["malformed_examples"];
        assert_eq!(ex[0]["line"], 2);
        assert!(
            ex[0]["error"]
                .as_str()
                .unwrap()
                .contains("outside 2000-01-01"),
            "{ex}"
        );
        assert_eq!(r["controls"][0]["open"].as_array().unwrap().len(), 1);
        assert_eq!(r["window"]["days"], 1);
    }

    #[test]
    fn one_host_s_odd_clock_or_flood_changes_only_that_host() {
        let fleet: Vec<String> = (0..6)
            .flat_map(|h| {
                let host = format!("h{h}");
                (0..5).map(move |d| status_line(&host, T + d * DAY + 3_600, "added", "edr", "pass"))
            })
            .collect();
        let base = analyze_lines("fleet", &fleet).to_json();
        // A plausible but far-off day from one host (what it says of itself
        // then does not change its window days), and a host over budget.
        let mut odd = fleet.clone();
        odd.push(status_line("h0", 1_000_000_000, "added", "edr", "pass"));
        let mut a = Analyzer::with_budget(50);
        let mut text = odd.join("\n");
        for i in 0..60 {
            text.push('\n');
            text.push_str(&status_line(
                "flood",
                T + i,
                "added",
                &format!("c{i}"),
                "fail",
            ));
        }
        text.push('\n');
        a.apply("fleet", &chunks::parse(1, text.as_bytes()));
        let r = a.to_json();
        assert_eq!(
            r["window"], base["window"],
            "the odd day is not the fleet's"
        );
        assert_eq!(r["edr_coverage"], base["edr_coverage"]);
        assert_eq!(r["compliance"], base["compliance"]);
        assert_eq!(r["input"]["hosts_flooded"][0]["host"], "flood");
        assert_eq!(r["input"]["hosts_flooded"][0]["lines"], 60);
        assert_eq!(
            r["hosts"]["with_postern"], 6,
            "the flooded host is left out"
        );
        assert_eq!(
            r["input"]["hosts_standing_out"].as_array().unwrap().len(),
            0
        );
    }

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
