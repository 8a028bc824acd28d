//! When Debian packages were installed and by whom: `/var/log/dpkg.log` and
//! its rotations (`dpkg.log.1`, `dpkg.log.N.gz`), and APT's
//! `/var/log/apt/history.log` (which names the user behind `sudo apt`).
//!
//! Both logs are written in the host's local time without a zone, so times
//! are interpreted in the host's own `/etc/localtime` (read through the
//! root, so an image is read in its own zone); UTC when that is unreadable.

use std::collections::BTreeMap;
use std::io::Read;

use flate2::read::MultiGzDecoder;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use crate::root::{paths, HostRoot};

const MAX_LOG_FILES: usize = 64;
/// Decompressed bytes read from one log file.
const LOG_CAP: u64 = 256 << 20;

/// A package's last install (not upgrade) and the user who asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallRecord {
    pub installed_at: Option<i64>,
    pub installed_by: Option<String>,
}

/// The host's time zone, from its `/etc/localtime`.
pub fn host_time_zone(root: &HostRoot, warnings: &mut Vec<String>) -> TimeZone {
    match root.read_capped(paths::LOCALTIME, 1 << 20) {
        Ok(bytes) => match TimeZone::tzif("localtime", &bytes) {
            Ok(tz) => tz,
            Err(e) => {
                warnings.push(format!(
                    "{}: not a time zone file ({e}); log times read as UTC",
                    paths::LOCALTIME
                ));
                TimeZone::UTC
            }
        },
        Err(_) => TimeZone::UTC,
    }
}

fn local_to_unix(date: &str, time: &str, tz: &TimeZone) -> Option<i64> {
    let dt: DateTime = format!("{date}T{time}").parse().ok()?;
    Some(
        tz.to_ambiguous_zoned_datetime(dt)
            .compatible()
            .ok()?
            .timestamp()
            .as_second(),
    )
}

/// `(package, action, unix time)` from dpkg.log lines such as
/// `2026-01-15 09:00:01 install anydesk:amd64 <none> 6.3.2`. Pure; other
/// lines (status, configure, startup, garbage) are skipped.
pub fn parse_dpkg_log(text: &str, tz: &TimeZone) -> Vec<(String, String, i64)> {
    // Many lines share a timestamp: convert each distinct one once.
    let mut last: Option<(&str, &str, Option<i64>)> = None;
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let (date, time, action, pkg) = (f.next()?, f.next()?, f.next()?, f.next()?);
            // Upgrades do not change when a package arrived.
            if !matches!(action, "install" | "remove" | "purge") {
                return None;
            }
            let when = match last {
                Some((d, t, w)) if d == date && t == time => w,
                _ => {
                    let w = local_to_unix(date, time, tz);
                    last = Some((date, time, w));
                    w
                }
            };
            let name = pkg.split(':').next()?.to_string();
            Some((name, action.to_string(), when?))
        })
        .collect()
}

/// `(package, user, unix time)` for every package an APT history entry
/// installed, with the `Requested-By` user when there is one. Pure.
pub fn parse_apt_history(text: &str, tz: &TimeZone) -> Vec<(String, Option<String>, i64)> {
    let mut out = Vec::new();
    let mut when = None;
    let mut user = None;
    let mut installs: Vec<String> = Vec::new();
    let mut flush =
        |when: &mut Option<i64>, user: &mut Option<String>, installs: &mut Vec<String>| {
            if let Some(t) = *when {
                for pkg in installs.drain(..) {
                    out.push((pkg, user.clone(), t));
                }
            }
            installs.clear();
            *when = None;
            *user = None;
        };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Start-Date:") {
            flush(&mut when, &mut user, &mut installs);
            let mut f = rest.split_ascii_whitespace();
            when = match (f.next(), f.next()) {
                (Some(d), Some(t)) => local_to_unix(d, t, tz),
                _ => None,
            };
        } else if let Some(rest) = line.strip_prefix("Requested-By:") {
            user = rest.split_ascii_whitespace().next().map(str::to_string);
        } else if let Some(rest) = line.strip_prefix("Install:") {
            // `a:amd64 (1.0), b:amd64 (2.0, automatic)`: names precede " (".
            for part in rest.split("), ") {
                let name = part.trim().split([' ', ':']).next().unwrap_or("");
                if !name.is_empty() {
                    installs.push(name.to_string());
                }
            }
        } else if line.starts_with("End-Date:") {
            flush(&mut when, &mut user, &mut installs);
        }
    }
    flush(&mut when, &mut user, &mut installs);
    out
}

/// `dpkg.log`, `dpkg.log.1`, `dpkg.log.2.gz`...: oldest first.
fn rotations(root: &HostRoot, dir: &str, base: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = root
        .list_dir(dir, 4096)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| {
            let rest = name.strip_prefix(base)?;
            let n = match rest {
                "" => 0,
                _ => rest
                    .strip_prefix('.')?
                    .trim_end_matches(".gz")
                    .parse()
                    .ok()?,
            };
            Some((n, format!("{dir}/{name}")))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
        .into_iter()
        .take(MAX_LOG_FILES)
        .map(|(_, p)| p)
        .collect()
}

/// A log file's text, decompressing `.gz`. A file cut short gives what could
/// be read and a warning.
fn read_log(root: &HostRoot, path: &str, warnings: &mut Vec<String>) -> String {
    let file = match root.open(path) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(e.to_string());
            return String::new();
        }
    };
    let mut bytes = Vec::new();
    let result = if path.ends_with(".gz") {
        MultiGzDecoder::new(file)
            .take(LOG_CAP)
            .read_to_end(&mut bytes)
    } else {
        file.take(LOG_CAP).read_to_end(&mut bytes)
    };
    if let Err(e) = result {
        warnings.push(format!("{path}: read {} bytes, then: {e}", bytes.len()));
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Install records of every package the logs mention.
/// The log files [`install_records`] reads: dpkg's and APT's, with their
/// rotations.
pub fn log_files(root: &HostRoot) -> Vec<String> {
    let mut files = rotations(root, paths::DPKG_LOG_DIR, "dpkg.log");
    files.extend(rotations(root, paths::APT_LOG_DIR, "history.log"));
    files
}

pub fn install_records(
    root: &HostRoot,
    tz: &TimeZone,
    warnings: &mut Vec<String>,
) -> BTreeMap<String, InstallRecord> {
    let mut records: BTreeMap<String, InstallRecord> = BTreeMap::new();
    for path in rotations(root, paths::DPKG_LOG_DIR, "dpkg.log") {
        for (name, action, t) in parse_dpkg_log(&read_log(root, &path, warnings), tz) {
            let r = records.entry(name).or_default();
            match action.as_str() {
                "install" => r.installed_at = Some(t),
                // A removed package that comes back is a new install.
                "remove" | "purge" => *r = InstallRecord::default(),
                _ => {}
            }
        }
    }
    for path in rotations(root, paths::APT_LOG_DIR, "history.log") {
        for (name, user, t) in parse_apt_history(&read_log(root, &path, warnings), tz) {
            let r = records.entry(name).or_default();
            // dpkg.log is the authority on times; APT adds the user.
            if r.installed_at.is_none_or(|at| (at - t).abs() < 3600) {
                r.installed_by = user;
                r.installed_at.get_or_insert(t);
            }
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_log_lines() {
        let log = "2026-01-10 08:00:00 startup archives unpack\n\
                   2026-01-10 08:00:01 install anydesk:amd64 <none> 6.3.2\n\
                   2026-01-10 08:00:01 status half-installed anydesk:amd64 6.3.2\n\
                   2026-02-01 10:00:00 upgrade anydesk:amd64 6.3.2 6.3.3\n\
                   garbage line\n2026-13-45 99:99:99 install bad:amd64 <none> 1\n";
        let events = parse_dpkg_log(log, &TimeZone::UTC);
        assert_eq!(
            events.len(),
            1,
            "upgrades, status lines and garbage are skipped"
        );
        assert_eq!(
            events[0],
            ("anydesk".to_string(), "install".to_string(), 1_768_032_001)
        );
        let berlin = TimeZone::fixed(jiff::tz::offset(1));
        assert_eq!(parse_dpkg_log(log, &berlin)[0].2, 1_768_032_001 - 3600);
    }

    #[test]
    fn apt_history_blocks() {
        let text = "\nStart-Date: 2026-01-10  08:00:00\nCommandline: apt install anydesk\nRequested-By: bob (1000)\nInstall: anydesk:amd64 (6.3.2), libgtkglext1:amd64 (1.2.0-11, automatic)\nEnd-Date: 2026-01-10  08:00:05\n\nStart-Date: 2026-01-11  08:00:00\nUpgrade: curl:amd64 (7.88, 7.89)\nEnd-Date: 2026-01-11  08:00:01\n";
        let got = parse_apt_history(text, &TimeZone::UTC);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            (
                "anydesk".to_string(),
                Some("bob".to_string()),
                1_768_032_000
            )
        );
        assert_eq!(got[1].0, "libgtkglext1");
        assert!(
            parse_apt_history("Install: x\n\u{0}", &TimeZone::UTC).is_empty(),
            "no date, no record"
        );
    }

    #[test]
    fn rotated_and_truncated_gzip_logs() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join("var/log");
        std::fs::create_dir_all(&log_dir).unwrap();
        std::fs::write(
            log_dir.join("dpkg.log"),
            "2026-03-01 00:00:00 install new:amd64 <none> 1\n",
        )
        .unwrap();
        std::fs::write(
            log_dir.join("dpkg.log.1"),
            "2026-02-01 00:00:00 remove gone:amd64 1 <none>\n",
        )
        .unwrap();
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"2026-01-01 00:00:00 install gone:amd64 <none> 1\n2026-01-01 00:00:00 install old:amd64 <none> 1\n").unwrap();
        let gz = gz.finish().unwrap();
        std::fs::write(log_dir.join("dpkg.log.2.gz"), &gz).unwrap();
        std::fs::write(log_dir.join("dpkg.log.3.gz"), &gz[..gz.len() / 2]).unwrap();
        let root = HostRoot::new(dir.path()).unwrap();
        let mut warnings = Vec::new();
        let records = install_records(&root, &TimeZone::UTC, &mut warnings);
        assert_eq!(records["old"].installed_at, Some(1_767_225_600));
        assert_eq!(records["gone"].installed_at, None, "removed after install");
        assert!(records["new"].installed_at.is_some());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("dpkg.log.3.gz"));
    }
}
