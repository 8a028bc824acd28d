//! One host's results in time order: the events the analysis keeps (packed
//! in a `u64` each so that a fleet's fortnight fits in a few bytes a row),
//! and the replay that turns them into episodes and compliant days. Pure:
//! the same events give the same answer whatever order they were read in.
//!
//! A control's event is `key << 40 | time << 8 | code`: sorting the numbers
//! groups them by key, then orders each key's by time, then code. A remote
//! access tool's rows are kept as [`ToolRow`]s: a tool is present while one
//! of its rows (each piece of evidence) is. `time` is seconds since 2000-01-01 (times
//! outside 2000 .. 2136 never get here), `key` a control (`control` or
//! `control:product`) or a tool id, numbered by the analysis.

/// 2000-01-01T00:00:00Z: results from before it are not plausible.
pub const EPOCH_2000: i64 = 946_684_800;
pub const DAY: i64 = 86_400;
/// Keys fit in 24 bits.
pub const MAX_KEYS: u32 = 1 << 24;

/// A control's status. At one instant the greater one wins, so that a
/// failing and a passing result of the same second count as failing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    NotApplicable = 0,
    Pass = 1,
    Unknown = 2,
    Degraded = 3,
    Fail = 4,
}

impl Status {
    pub fn parse(s: &str) -> Status {
        match s {
            "pass" => Status::Pass,
            "fail" => Status::Fail,
            "degraded" => Status::Degraded,
            "not_applicable" => Status::NotApplicable,
            _ => Status::Unknown,
        }
    }

    fn from_bits(b: u8) -> Status {
        match b {
            0 => Status::NotApplicable,
            1 => Status::Pass,
            3 => Status::Degraded,
            4 => Status::Fail,
            _ => Status::Unknown,
        }
    }

    pub fn failing(self) -> bool {
        matches!(self, Status::Fail | Status::Degraded)
    }
}

/// Which query showed a status: its interval bounds the time to identify
/// when the host does not say since when the control is in that state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `postern_control_status`, every 300 s.
    Detect = 0,
    /// `postern_control_failures`, hourly.
    Hourly = 1,
    /// `postern_control_snapshot`, daily.
    Daily = 2,
}

impl Class {
    pub fn interval(bits: u8) -> i64 {
        match bits {
            0 => crate::packs::DETECT_INTERVAL as i64,
            1 => 3_600,
            _ => DAY,
        }
    }
}

/// The time as stored in an event, or None outside 2000 .. 2136.
pub fn rel(time: i64) -> Option<u32> {
    u32::try_from(time - EPOCH_2000).ok()
}

pub fn abs(rel: u32) -> i64 {
    EPOCH_2000 + i64::from(rel)
}

pub fn control_event(time: u32, key: u32, status: Status, class: Class) -> u64 {
    (u64::from(key) << 40) | (u64::from(time) << 8) | ((status as u64) << 2) | class as u64
}

pub fn time_of(e: u64) -> u32 {
    ((e >> 8) & 0xffff_ffff) as u32
}

pub fn key_of(e: u64) -> u32 {
    (e >> 40) as u32
}

fn code_of(e: u64) -> u8 {
    (e & 0xff) as u8
}

/// One control's state over time on one host: at each instant (results of
/// the same second merged), the status in force from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub time: i64,
    pub status: Status,
    /// The shortest interval among the queries that showed this status then.
    pub interval: i64,
}

/// The observations of one control, from its events (sorted, one key).
pub fn observations(events: &[u64]) -> Vec<Observation> {
    let mut out: Vec<Observation> = Vec::new();
    for e in events {
        let time = abs(time_of(*e));
        let code = code_of(*e);
        let status = Status::from_bits(code >> 2);
        let interval = Class::interval(code & 3);
        match out.last_mut() {
            Some(last) if last.time == time => {
                if status > last.status {
                    last.status = status;
                    last.interval = interval;
                } else if status == last.status {
                    last.interval = last.interval.min(interval);
                }
            }
            _ => out.push(Observation {
                time,
                status,
                interval,
            }),
        }
    }
    out
}

/// A failure episode of a control (docs/REPORT.md, "Episodes").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// First result showing the control failing.
    pub opened: i64,
    /// The interval of the query that showed it (time to identify when the
    /// host gives no `status_since`).
    pub interval: i64,
    /// First result showing it passing again; None while open.
    pub resolved: Option<i64>,
    /// Ended by `not_applicable` (the control no longer applies): neither
    /// resolved nor open.
    pub withdrawn: bool,
}

/// Failure episodes: open at the first failing result after a pass (or the
/// first result at all), through `unknown` results, until the first pass.
pub fn control_episodes(obs: &[Observation]) -> Vec<Episode> {
    let mut out = Vec::new();
    let mut open: Option<Episode> = None;
    for o in obs {
        match o.status {
            s if s.failing() && open.is_none() => {
                open = Some(Episode {
                    opened: o.time,
                    interval: o.interval,
                    resolved: None,
                    withdrawn: false,
                });
            }
            Status::Pass => {
                if let Some(mut e) = open.take() {
                    e.resolved = Some(o.time);
                    out.push(e);
                }
            }
            Status::NotApplicable => {
                if let Some(mut e) = open.take() {
                    e.withdrawn = true;
                    out.push(e);
                }
            }
            _ => {}
        }
    }
    out.extend(open);
    out
}

/// One added or removed row of `postern_remote_access_unapproved`. The
/// field order is the sort order: by tool, time, removed before added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ToolRow {
    pub key: u32,
    pub time: u32,
    pub added: bool,
    /// The row's identity (all its evidence), numbered by the analysis.
    pub row: u32,
}

/// A remote access tool's presence episode on a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub since: i64,
    pub gone: Option<i64>,
}

/// Presence episodes of one tool from its rows (sorted, one key). The tool
/// is present while at least one of its rows is. The rows of one second
/// are one batch, removed rows first as osquery applies them: a row
/// removed and another added in the same batch (a restart, a new pid)
/// change nothing, and a row logged twice is one row.
pub fn tool_episodes(rows: &[ToolRow]) -> Vec<Presence> {
    let mut out = Vec::new();
    let mut present: std::collections::BTreeSet<u32> = std::collections::BTreeSet::new();
    let mut since = None;
    let mut i = 0;
    while let Some(first) = rows.get(i) {
        let t = first.time;
        let before = present.is_empty();
        while let Some(r) = rows.get(i).filter(|r| r.time == t) {
            if r.added {
                present.insert(r.row);
            } else {
                present.remove(&r.row);
            }
            i += 1;
        }
        match (before, present.is_empty()) {
            (true, false) => since = Some(abs(t)),
            (false, true) => {
                if let Some(s) = since.take() {
                    out.push(Presence {
                        since: s,
                        gone: Some(abs(t)),
                    });
                }
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        out.push(Presence {
            since: s,
            gone: None,
        });
    }
    out
}

/// How a control stood on each of `days` (UTC day starts, sorted): Some(true)
/// when every status in force during the day was `pass`, Some(false) when
/// one was failing or unknown, None when the day is not counted (before the
/// first result, after `until`, or not applicable all day).
pub fn compliant_days(obs: &[Observation], days: &[i64], until: i64) -> Vec<Option<bool>> {
    let mut out = vec![None; days.len()];
    for (i, o) in obs.iter().enumerate() {
        // Run i covers [o.time, next) or, the last one, [o.time, until].
        let (end, last) = obs.get(i + 1).map_or((until, true), |n| (n.time, false));
        if end < o.time {
            continue;
        }
        let from = days.partition_point(|d| d + DAY <= o.time);
        for (slot, day) in out.iter_mut().zip(days).skip(from) {
            if *day > end || (*day == end && !last) {
                break;
            }
            *slot = match (o.status, *slot) {
                (Status::NotApplicable, s) => s,
                (Status::Pass, None) => Some(true),
                (Status::Pass, s) => s,
                (_, _) => Some(false),
            };
        }
    }
    out
}

/// The status in force at `time`, if any result came before it.
pub fn status_at(obs: &[Observation], time: i64) -> Option<Status> {
    let i = obs.partition_point(|o| o.time <= time);
    i.checked_sub(1).and_then(|i| obs.get(i)).map(|o| o.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_767_571_200; // 2026-01-05

    fn c(t: i64, s: Status) -> u64 {
        control_event(rel(t).unwrap(), 7, s, Class::Detect)
    }

    fn sorted(mut v: Vec<u64>) -> Vec<u64> {
        v.sort_unstable();
        v
    }

    #[test]
    fn a_failure_lasts_until_the_first_pass_through_unknown() {
        let obs = observations(&sorted(vec![
            c(T0 + 100, Status::Pass),
            c(T0 + 200, Status::Fail),
            c(T0 + 300, Status::Unknown),
            c(T0 + 400, Status::Degraded),
            c(T0 + 500, Status::Pass),
            c(T0 + 600, Status::Fail),
        ]));
        let eps = control_episodes(&obs);
        assert_eq!(eps.len(), 2);
        assert_eq!((eps[0].opened, eps[0].resolved), (T0 + 200, Some(T0 + 500)));
        assert_eq!((eps[1].opened, eps[1].resolved), (T0 + 600, None));
    }

    #[test]
    fn failing_wins_within_one_second_and_not_applicable_withdraws() {
        let obs = observations(&sorted(vec![
            c(T0, Status::Pass),
            c(T0, Status::Fail),
            c(T0 + 10, Status::NotApplicable),
        ]));
        assert_eq!(obs[0].status, Status::Fail);
        let eps = control_episodes(&obs);
        assert!(eps[0].withdrawn && eps[0].resolved.is_none());
    }

    #[test]
    fn a_restart_in_one_batch_is_not_a_resolution() {
        let t = |s: i64, added, row| ToolRow {
            key: 3,
            time: rel(T0 + s).unwrap(),
            added,
            row,
        };
        let episodes = |mut v: Vec<ToolRow>| {
            v.sort_unstable();
            tool_episodes(&v)
        };
        // pid 1 added; at +60 pid 1 removed and pid 2 added; removed at +600.
        let eps = episodes(vec![
            t(0, true, 1),
            t(60, false, 1),
            t(60, true, 2),
            t(600, false, 2),
        ]);
        assert_eq!(
            eps,
            vec![Presence {
                since: T0,
                gone: Some(T0 + 600)
            }]
        );
        // Reinstalled later: a second episode.
        let eps = episodes(vec![t(0, true, 1), t(10, false, 1), t(900, true, 1)]);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[1].gone, None);
        // The package stays while the process comes and goes; a duplicated
        // row is one row.
        let eps = episodes(vec![
            t(0, true, 1),
            t(0, true, 1),
            t(0, true, 7),
            t(300, false, 1),
        ]);
        assert_eq!(
            eps,
            vec![Presence {
                since: T0,
                gone: None
            }]
        );
    }

    #[test]
    fn days_are_compliant_only_when_passing_all_day() {
        let days: Vec<i64> = (0..4).map(|d| T0 + d * DAY).collect();
        let obs = observations(&sorted(vec![
            c(T0 + 3_600, Status::Pass),
            c(T0 + DAY + 7_200, Status::Fail),
            c(T0 + DAY + 9_000, Status::Pass),
        ]));
        let until = T0 + 3 * DAY - 1;
        assert_eq!(
            compliant_days(&obs, &days, until),
            vec![Some(true), Some(false), Some(true), None]
        );
        assert_eq!(status_at(&obs, T0 + DAY + 8_000), Some(Status::Fail));
        assert_eq!(status_at(&obs, T0), None);
    }
}
