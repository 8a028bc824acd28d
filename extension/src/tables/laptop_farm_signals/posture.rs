//! How the machine sits, from files: is it a laptop, is its lid closed
//! with an external display connected while someone is logged in at it,
//! has it run on battery lately, does it ever sleep, how long has it been
//! up (`/sys/class/power_supply`, `/sys/class/dmi/id/chassis_type`,
//! `/proc/acpi/button/lid`, `/sys/class/drm`, `/run/systemd/sessions`,
//! UPower's history, logind and sleep configuration, `/proc/uptime`;
//! macOS's power management preferences). Each reading is `None` when its
//! source is missing or unreadable, never a guess.

use crate::root::{join, HostRoot};

const SMALL: u64 = 64 << 10;
/// UPower history files read at most, and bytes of one.
const MAX_HISTORY_FILES: usize = 64;
const MAX_HISTORY_BYTES: u64 = 8 << 20;

/// Chassis types of the SMBIOS specification that are portable: portable,
/// laptop, notebook, sub-notebook, tablet, convertible, detachable.
const PORTABLE_CHASSIS: &[u32] = &[8, 9, 10, 14, 30, 31, 32];

/// A logind session (`/run/systemd/sessions/<id>`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub kind: String,
    pub remote: bool,
    pub active: bool,
    pub seat: String,
    pub service: String,
    pub remote_host: String,
}

impl Session {
    pub fn graphical(&self) -> bool {
        matches!(self.kind.as_str(), "x11" | "wayland" | "mir")
    }
}

/// Parses a logind session file. Pure.
pub fn parse_session(id: &str, text: &str) -> Session {
    let vars = super::assignment::shell_vars(text);
    let get = |k: &str| vars.get(k).cloned().unwrap_or_default();
    Session {
        id: id.to_string(),
        user: get("USER"),
        kind: get("TYPE"),
        remote: get("REMOTE") == "1",
        active: get("ACTIVE") == "1" || get("STATE") == "active",
        seat: get("SEAT"),
        service: get("SERVICE"),
        remote_host: get("REMOTE_HOST"),
    }
}

/// `state: closed` of `/proc/acpi/button/lid/*/state`. Pure.
pub fn lid_closed(text: &str) -> Option<bool> {
    let state = text.split(':').nth(1)?.trim();
    match state {
        "closed" => Some(true),
        "open" => Some(false),
        _ => None,
    }
}

/// A DRM connector built into the laptop (its own panel).
pub fn internal_connector(name: &str) -> bool {
    // card0-eDP-1, card1-LVDS-1, card0-DSI-1
    let kind = name.split_once('-').map_or(name, |(_, k)| k);
    ["eDP", "LVDS", "DSI"].iter().any(|p| kind.starts_with(p))
}

/// The latest time a UPower history file records running on battery, and
/// the earliest time it records at all. Lines are `time<TAB>value<TAB>state`. Pure.
pub fn upower_history(text: &str) -> (Option<i64>, Option<i64>) {
    let (mut last_discharge, mut first) = (None::<i64>, None::<i64>);
    for line in text.lines() {
        let mut f = line.split('\t');
        let (Some(t), Some(_), Some(state)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Ok(t) = t.trim().parse::<i64>() else {
            continue;
        };
        if t <= 0 {
            continue;
        }
        first = Some(first.map_or(t, |f| f.min(t)));
        if state.trim() == "discharging" {
            last_discharge = Some(last_discharge.map_or(t, |l| l.max(t)));
        }
    }
    (last_discharge, first)
}

/// The first number of `/proc/uptime`, in seconds. Pure.
pub fn parse_uptime(text: &str) -> Option<i64> {
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs as i64)
}

/// What logind.conf (and drop-ins) and sleep.conf say that keeps the
/// machine from sleeping: `HandleLidSwitch=ignore`,
/// `HandleLidSwitchExternalPower=ignore`, `AllowSuspend=no`. Pure.
pub fn sleep_settings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        let hit = match k {
            "HandleLidSwitch" | "HandleLidSwitchExternalPower" => v == "ignore",
            "AllowSuspend"
            | "AllowHibernation"
            | "AllowHybridSleep"
            | "AllowSuspendThenHibernate" => {
                matches!(v, "no" | "0" | "false")
            }
            _ => false,
        };
        if hit {
            out.push(format!("{k}={v}"));
        }
    }
    out
}

/// What the host's posture readings are.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Posture {
    /// Some(true) a laptop, Some(false) not, None unknown.
    pub laptop: Option<bool>,
    pub lid_closed: Option<bool>,
    /// External connectors with a display connected (None: no DRM info).
    pub external_displays: Option<Vec<String>>,
    /// logind sessions (None: no session directory).
    pub sessions: Option<Vec<Session>>,
    /// On mains power now (None: no power supply information).
    pub on_ac: Option<bool>,
    /// (latest battery use, history start) from UPower (None: no history).
    pub battery_history: Option<(Option<i64>, i64)>,
    /// Settings that disable sleep, with their files (empty: none found).
    pub sleep_disabled: Vec<String>,
    pub uptime: Option<i64>,
}

pub fn read(root: &HostRoot, warnings: &mut Vec<String>) -> Posture {
    let mut p = Posture::default();
    let text = |path: &str| root.read_string_capped(path, SMALL).ok();

    // Power supplies: a system battery makes a laptop; mains online is AC.
    let ps = "/sys/class/power_supply";
    let mut battery = false;
    match root.list_dir(ps, 64) {
        Ok(mut names) => {
            names.sort();
            let mut mains_seen = false;
            for n in names {
                let dir = join(ps, &n);
                let kind = text(&join(&dir, "type")).unwrap_or_default();
                let scope = text(&join(&dir, "scope")).unwrap_or_default();
                match kind.trim() {
                    // A mouse's or headset's battery has scope Device.
                    "Battery" if scope.trim() != "Device" => battery = true,
                    "Mains" => {
                        mains_seen = true;
                        if text(&join(&dir, "online")).is_some_and(|o| o.trim() == "1") {
                            p.on_ac = Some(true);
                        }
                    }
                    _ => {}
                }
            }
            if mains_seen && p.on_ac.is_none() {
                p.on_ac = Some(false);
            }
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => warnings.push(e.to_string()),
    }
    let chassis = text("/sys/class/dmi/id/chassis_type").and_then(|t| t.trim().parse::<u32>().ok());
    p.laptop = match (battery, chassis) {
        (true, _) => Some(true),
        (false, Some(c)) => Some(PORTABLE_CHASSIS.contains(&c)),
        (false, None) if root.exists("/sys/class/power_supply") => Some(false),
        _ => None,
    };

    // The lid switch.
    let lid_dir = "/proc/acpi/button/lid";
    if let Ok(mut lids) = root.list_dir(lid_dir, 8) {
        lids.sort();
        p.lid_closed = lids
            .iter()
            .find_map(|l| text(&join(&join(lid_dir, l), "state")).and_then(|t| lid_closed(&t)));
    }

    // Displays: connectors with a monitor attached, other than the panel.
    let drm = "/sys/class/drm";
    if let Ok(mut names) = root.list_dir(drm, 256) {
        names.sort();
        let external: Vec<String> = names
            .iter()
            .filter(|n| n.starts_with("card") && n.contains('-') && !internal_connector(n))
            .filter(|n| {
                text(&join(&join(drm, n), "status")).is_some_and(|s| s.trim() == "connected")
            })
            .cloned()
            .collect();
        p.external_displays = Some(external);
    }

    // logind sessions.
    let sessions_dir = "/run/systemd/sessions";
    if let Ok(mut ids) = root.list_dir(sessions_dir, 1024) {
        ids.sort();
        p.sessions = Some(
            ids.iter()
                .filter(|id| !id.contains('.'))
                .filter_map(|id| text(&join(sessions_dir, id)).map(|t| parse_session(id, &t)))
                .collect(),
        );
    }

    // UPower's charge history: when the battery last ran the machine.
    let upower = "/var/lib/upower";
    if let Ok(mut names) = root.list_dir(upower, 1024) {
        names.sort();
        let mut last: Option<i64> = None;
        let mut first: Option<i64> = None;
        for n in names
            .iter()
            .filter(|n| n.starts_with("history-charge-") || n.starts_with("history-rate-"))
            .take(MAX_HISTORY_FILES)
        {
            if let Ok(t) = root.read_string_capped(&join(upower, n), MAX_HISTORY_BYTES) {
                let (l, f) = upower_history(&t);
                last = last.max(l);
                first = match (first, f) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        if let Some(f) = first {
            p.battery_history = Some((last, f));
        }
    }

    // Sleep: logind, sleep.conf and their drop-ins; masked sleep targets.
    let mut conf_files: Vec<String> = vec![
        "/etc/systemd/logind.conf".into(),
        "/etc/systemd/sleep.conf".into(),
    ];
    for d in [
        "/etc/systemd/logind.conf.d",
        "/run/systemd/logind.conf.d",
        "/usr/lib/systemd/logind.conf.d",
        "/etc/systemd/sleep.conf.d",
        "/usr/lib/systemd/sleep.conf.d",
    ] {
        let mut names = root.list_dir(d, 256).unwrap_or_default();
        names.sort();
        conf_files.extend(
            names
                .iter()
                .filter(|n| n.ends_with(".conf"))
                .map(|n| join(d, n)),
        );
    }
    for f in &conf_files {
        match root.read_string_capped(f, SMALL) {
            Ok(t) => {
                p.sleep_disabled.extend(
                    sleep_settings(&t)
                        .into_iter()
                        .map(|s| format!("{s} in {f}")),
                );
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => warnings.push(e.to_string()),
        }
    }
    for target in [
        "sleep.target",
        "suspend.target",
        "hibernate.target",
        "hybrid-sleep.target",
    ] {
        let unit = join("/etc/systemd/system", target);
        if root.read_link(&unit).is_ok_and(|t| t == "/dev/null") {
            p.sleep_disabled
                .push(format!("{target} masked ({unit} → /dev/null)"));
        }
    }
    // macOS: never sleeping on AC power.
    if let Ok(mut names) = root.list_dir("/Library/Preferences", 4096) {
        names.sort();
        for n in names
            .iter()
            .filter(|n| n.starts_with("com.apple.PowerManagement") && n.ends_with(".plist"))
        {
            let f = join("/Library/Preferences", n);
            let Ok(bytes) = root.read_capped(&f, 1 << 20) else {
                continue;
            };
            let Ok(v) = crate::host::plists::parse(&bytes) else {
                warnings.push(format!("{f}: not a property list"));
                continue;
            };
            let ac = v
                .as_dictionary()
                .and_then(|d| {
                    d.get("AC Power").or_else(|| {
                        d.get("Custom Profile")
                            .and_then(|c| c.as_dictionary()?.get("AC Power"))
                    })
                })
                .and_then(plist::Value::as_dictionary);
            if let Some(sleep) = ac
                .and_then(|d| d.get("System Sleep Timer"))
                .and_then(plist::Value::as_signed_integer)
            {
                if sleep == 0 {
                    p.sleep_disabled
                        .push(format!("System Sleep Timer 0 on AC power in {f}"));
                }
            }
        }
    }

    p.uptime = text("/proc/uptime").and_then(|t| parse_uptime(&t));
    p
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn lid_sessions_displays() {
        assert_eq!(lid_closed("state:      closed\n"), Some(true));
        assert_eq!(lid_closed("state:      open\n"), Some(false));
        assert_eq!(lid_closed("garbage"), None);
        assert!(internal_connector("card0-eDP-1"));
        assert!(internal_connector("card1-LVDS-1"));
        assert!(!internal_connector("card0-HDMI-A-1"));
        assert!(!internal_connector("card0-DP-2"));
        let s = parse_session(
            "3",
            "# This is private data. Do not parse.\nUID=1000\nUSER=alice\nACTIVE=1\nIS_DISPLAY=1\nSTATE=active\nREMOTE=0\nTYPE=wayland\nCLASS=user\nSEAT=seat0\nSERVICE=gdm-password\n",
        );
        assert!(s.active && !s.remote && s.graphical());
        assert_eq!((s.user.as_str(), s.seat.as_str()), ("alice", "seat0"));
        let r = parse_session("c2", "USER=bob\nREMOTE=1\nTYPE=x11\nSERVICE=xrdp-sesman\nREMOTE_HOST=203.0.113.5\nSTATE=online\n");
        assert!(r.remote && r.graphical() && !r.active);
    }

    #[test]
    fn power_history_and_settings() {
        let h = "1732000000\t80.000\tdischarging\n1732003600\t100.000\tfully-charged\n1731000000\t50.0\tcharging\nbad line\n-5\t1\tdischarging\n";
        assert_eq!(upower_history(h), (Some(1732000000), Some(1731000000)));
        assert_eq!(upower_history(""), (None, None));
        assert_eq!(parse_uptime("1234567.89 2000.0\n"), Some(1234567));
        assert_eq!(parse_uptime("nan 1"), None);
        assert_eq!(
            sleep_settings("[Login]\n#HandleLidSwitch=ignore\nHandleLidSwitch=ignore\nHandleLidSwitchDocked=ignore\n[Sleep]\nAllowSuspend=no\n"),
            ["HandleLidSwitch=ignore", "AllowSuspend=no"]
        );
    }
}
