//! The report as data (schema `postern.report/2`, docs/REPORT.md). Names
//! borrow from the analysis, so a fleet's report costs a few dozen bytes a
//! host, and JSON is written straight from it.

use std::collections::BTreeMap;

use serde::Serialize;

pub const SCHEMA: &str = "postern.report/2";

/// Count, median and 90th percentile (nearest rank) of durations in seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    pub count: usize,
    pub median_s: Option<i64>,
    pub p90_s: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Window {
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Days in the daily series (days the fleet reported, the last 400).
    pub days: usize,
}

/// A host's share of the input.
#[derive(Debug, Serialize)]
pub struct HostLines<'a> {
    pub host: &'a str,
    pub lines: u64,
    pub events: u64,
}

/// Time to identify: the durations, and how many of them are the
/// interval of the query that showed the failure because the host did not
/// say since when (`status_since` NULL).
#[derive(Debug, Serialize)]
pub struct Identify {
    #[serde(flatten)]
    pub durations: Durations,
    pub from_interval: usize,
}

/// Every aggregate control together: host-days compliant over the window,
/// and the share of (host, control) pairs passing now.
#[derive(Debug, Serialize)]
pub struct Compliance {
    pub share_now: f64,
    pub grade_now: &'static str,
    pub window_share: Option<f64>,
    pub grade: &'static str,
    pub daily: Vec<Day>,
}

#[derive(Debug, Serialize)]
pub struct Malformed<'a> {
    pub source: &'a str,
    pub line: usize,
    pub error: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Input<'a> {
    pub lines: u64,
    pub bytes: u64,
    pub events: u64,
    pub malformed: u64,
    pub malformed_examples: Vec<Malformed<'a>>,
    pub unknown_query_results: u64,
    pub median_lines_per_host: u64,
    /// Hosts with at least ten times the median host's lines (and 1,000).
    pub hosts_standing_out: Vec<HostLines<'a>>,
    /// Hosts over the per-host budget: left out of every figure.
    pub hosts_flooded: Vec<HostLines<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Hosts<'a> {
    pub total: usize,
    pub by_platform: BTreeMap<&'a str, u64>,
    pub with_postern: usize,
    pub without_postern: usize,
}

#[derive(Debug, Serialize)]
pub struct Day {
    pub day: String,
    pub share: f64,
}

#[derive(Debug, Serialize)]
pub struct EdrCoverage {
    pub share: f64,
    pub hosts_passing: usize,
    pub hosts_reporting: usize,
    pub daily: Vec<Day>,
}

/// A finding still open at the end of the window.
#[derive(Clone, Debug, Serialize)]
pub struct Open<'a> {
    pub host: &'a str,
    pub since: i64,
    pub age_s: i64,
    /// The host's last result: a host that stopped reporting keeps its
    /// findings open.
    pub last_seen: i64,
}

#[derive(Debug, Serialize)]
pub struct Control<'a> {
    pub control: &'a str,
    /// Hosts where it applies now, and those passing now.
    pub hosts: usize,
    pub passing: usize,
    pub share: f64,
    pub grade_now: &'static str,
    /// Host-days counted over the window, and those compliant all day.
    pub host_days: u64,
    pub compliant_host_days: u64,
    pub window_share: Option<f64>,
    /// On the window (on the current state when no day is counted).
    pub grade: &'static str,
    pub daily: Vec<Day>,
    pub time_to_identify: Identify,
    pub time_to_resolve: Durations,
    pub open: Vec<Open<'a>>,
}

#[derive(Debug, Serialize)]
pub struct HostGrade<'a> {
    pub host: &'a str,
    pub platform: Option<&'a str>,
    pub passing: usize,
    pub controls: usize,
    pub share: f64,
    pub grade_now: &'static str,
    pub window_share: Option<f64>,
    pub grade: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Tool<'a> {
    pub tool_id: &'a str,
    pub hosts_now: usize,
    pub hosts_seen: usize,
    pub first_seen: i64,
}

#[derive(Debug, Serialize)]
pub struct OpenTool<'a> {
    pub host: &'a str,
    pub tool_id: &'a str,
    pub since: i64,
    pub age_s: i64,
    pub last_seen: i64,
}

#[derive(Debug, Serialize)]
pub struct RemoteAccess<'a> {
    pub hosts_with_unapproved_tools: usize,
    pub tools: Vec<Tool<'a>>,
    pub time_to_detect: Durations,
    pub time_to_resolve: Durations,
    pub open: Vec<OpenTool<'a>>,
}

#[derive(Debug, Serialize)]
pub struct HostCount<'a> {
    pub host: &'a str,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct WeekCount {
    pub week: String,
    pub count: u64,
}

#[derive(Debug, Serialize)]
pub struct Software<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub hosts: u64,
}

#[derive(Debug, Serialize)]
pub struct NewSoftware<'a> {
    pub unmanaged: usize,
    pub per_host: Vec<HostCount<'a>>,
    pub per_week: Vec<WeekCount>,
    pub top: Vec<Software<'a>>,
    pub time_to_detect: Durations,
}

/// What one hygiene snapshot counts (apps, and those outdated, waiting
/// for a security update, past end of life, redundant, unused 90+ days).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SurfaceCounts {
    pub apps: u64,
    pub outdated: u64,
    pub security_updates: u64,
    pub eol: u64,
    pub redundant: u64,
    pub unused: u64,
}

impl SurfaceCounts {
    pub fn add(&mut self, o: &SurfaceCounts) {
        self.apps += o.apps;
        self.outdated += o.outdated;
        self.security_updates += o.security_updates;
        self.eol += o.eol;
        self.redundant += o.redundant;
        self.unused += o.unused;
    }

    /// Worst first: security updates waiting, then end of life, redundant,
    /// outdated, unused.
    pub fn severity(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.security_updates,
            self.eol,
            self.redundant,
            self.outdated,
            self.unused,
        )
    }
}

#[derive(Debug, Serialize)]
pub struct HostSurface<'a> {
    pub host: &'a str,
    /// Time of the snapshot counted.
    pub at: i64,
    #[serde(flatten)]
    pub counts: SurfaceCounts,
}

/// From `postern_hygiene_snapshot`: each host's latest snapshot.
#[derive(Debug, Serialize)]
pub struct AttackSurface<'a> {
    pub hosts_reporting: usize,
    pub fleet: SurfaceCounts,
    pub worst_hosts: Vec<HostSurface<'a>>,
}

/// A host whose latest laptop_farm_signals snapshot is over the threshold.
#[derive(Debug, Serialize)]
pub struct FarmHost<'a> {
    pub host: &'a str,
    pub at: i64,
    pub score: u64,
    /// Its signals, heaviest first.
    pub signals: Vec<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct SignalHosts<'a> {
    pub signal: &'a str,
    pub hosts: usize,
}

/// From `postern_laptop_farm_snapshot`: each host's latest snapshot.
#[derive(Debug, Serialize)]
pub struct LaptopFarm<'a> {
    pub hosts_reporting: usize,
    pub hosts_over_threshold: usize,
    /// The highest scores first, at most 20.
    pub over_threshold: Vec<FarmHost<'a>>,
    /// Signals by how many hosts show them, at most 20.
    pub top_signals: Vec<SignalHosts<'a>>,
}

#[derive(Debug, Serialize)]
pub struct TimeToResolve {
    pub overall: Durations,
    pub open_findings: usize,
}

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub schema: &'static str,
    pub window: Window,
    pub input: Input<'a>,
    pub hosts: Hosts<'a>,
    pub edr_coverage: EdrCoverage,
    pub compliance: Compliance,
    pub controls: Vec<Control<'a>>,
    pub host_grades: Vec<HostGrade<'a>>,
    pub remote_access: RemoteAccess<'a>,
    pub new_software: NewSoftware<'a>,
    pub attack_surface: AttackSurface<'a>,
    pub laptop_farm: LaptopFarm<'a>,
    pub time_to_identify: Identify,
    pub time_to_resolve: TimeToResolve,
}
