//! System configuration facts for the control checks: mounts, swap, device
//! mapper, EFI variables, kernel lockdown, sshd configuration, dconf
//! keyfiles, APT and dnf-automatic settings. Parsers are pure; the readers
//! go through the root and say why when they cannot tell.

use std::collections::BTreeMap;

use crate::root::{basename, join, paths, HostRoot};

const CONFIG_CAP: u64 = 1 << 20;
const MAX_INCLUDE_DEPTH: usize = 8;
const MAX_DM_DEPTH: usize = 8;

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountInfo {
    pub major_minor: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
}

/// Undoes the kernel's octal escapes (`\040` for a space). Pure.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes.get(i) == Some(&b'\\') && d.iter().all(|c| (b'0'..=b'7').contains(c))
        });
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(bytes.get(i).copied().unwrap_or(b'?'));
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/self/mountinfo`. Pure; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split_whitespace().collect();
            let r: Vec<&str> = right.split_whitespace().collect();
            Some(MountInfo {
                major_minor: (*l.get(2)?).to_string(),
                mount_point: unescape(l.get(4)?),
                fs_type: (*r.first()?).to_string(),
                source: unescape(r.get(1).unwrap_or(&"")),
                options: (*l.get(5).unwrap_or(&"")).to_string(),
            })
        })
        .collect()
}

/// Whether access times are recorded for `path`: the options of the
/// mount holding it (the longest mount point that is a prefix). `noatime`
/// records none; `relatime`, the default, records the first access after a
/// change and then at most once a day, enough to count days unused;
/// read-only mounts and image layers record none. None when no mount holds
/// the path. Pure.
pub fn atime_recorded(mounts: &[MountInfo], path: &str) -> Option<bool> {
    let holds = |m: &&MountInfo| {
        let mp = m.mount_point.trim_end_matches('/');
        path == mp || path.starts_with(&format!("{mp}/")) || m.mount_point == "/"
    };
    let mount = mounts
        .iter()
        .filter(holds)
        .max_by_key(|m| m.mount_point.len())?;
    // Read-only mounts and image layers never update access times (an
    // overlay's lower files are read in place, not copied up).
    let frozen = matches!(
        mount.fs_type.as_str(),
        "overlay" | "squashfs" | "iso9660" | "erofs"
    );
    Some(
        !frozen
            && !mount
                .options
                .split(',')
                .any(|o| o == "noatime" || o == "ro"),
    )
}

/// Swap devices and files from `/proc/swaps`. Pure.
pub fn parse_swaps(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((unescape(f.first()?), (*f.get(1)?).to_string()))
        })
        .collect()
}

/// The selected mode in `/sys/kernel/security/lockdown` (`[none] integrity
/// confidentiality`). Pure.
/// The boot time (`btime`, Unix seconds) from /proc/stat. Pure.
pub fn parse_btime(text: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .filter(|t| *t > 0)
}

/// A process's start time in clock ticks after boot: field 22 of
/// /proc/PID/stat, counted after the command name's closing parenthesis
/// (the name may hold spaces and parentheses). Pure.
pub fn parse_start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn parse_lockdown(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
        .map(str::to_string)
}

/// The SecureBoot EFI variable: 4 attribute bytes, then 1 data byte. Pure.
pub fn parse_secure_boot_var(bytes: &[u8]) -> Option<bool> {
    match bytes.get(4) {
        Some(1) => Some(true),
        Some(0) => Some(false),
        _ => None,
    }
}

/// A block device's encryption, following device-mapper slaves
/// (LVM on LUKS) down to a `CRYPT-` mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockCrypt {
    /// Encrypted by the named dm-crypt mapping (`CRYPT-LUKS2-...`).
    Encrypted {
        mapping: String,
        uuid: String,
    },
    Plain {
        device: String,
    },
    Unknown(String),
}

/// Encryption of the block device `dev` (sysfs name such as `dm-0`, `sda2`).
pub fn block_crypt(root: &HostRoot, dev: &str) -> BlockCrypt {
    block_crypt_depth(root, dev, 0)
}

fn block_crypt_depth(root: &HostRoot, dev: &str, depth: usize) -> BlockCrypt {
    if depth > MAX_DM_DEPTH {
        return BlockCrypt::Unknown(format!("device-mapper stack under {dev} is too deep"));
    }
    let dm = format!("{}/{dev}/dm", paths::SYS_BLOCK);
    let uuid = match root.read_string_capped(&join(&dm, "uuid"), 4096) {
        Ok(u) => u.trim().to_string(),
        Err(e) if e.is_not_found() => {
            return BlockCrypt::Plain {
                device: dev.to_string(),
            }
        }
        Err(e) => return BlockCrypt::Unknown(e.to_string()),
    };
    if uuid.starts_with("CRYPT-") {
        let name = root
            .read_string_capped(&join(&dm, "name"), 4096)
            .map(|n| n.trim().to_string())
            .unwrap_or_else(|_| dev.to_string());
        return BlockCrypt::Encrypted {
            mapping: name,
            uuid,
        };
    }
    // LVM and other stacked mappings: encrypted if every slave is.
    let slaves_dir = format!("{}/{dev}/slaves", paths::SYS_BLOCK);
    let slaves = root.list_dir(&slaves_dir, 64).unwrap_or_default();
    if slaves.is_empty() {
        return BlockCrypt::Plain {
            device: dev.to_string(),
        };
    }
    let mut found = None;
    for slave in slaves {
        match block_crypt_depth(root, &slave, depth + 1) {
            e @ BlockCrypt::Encrypted { .. } => found = found.or(Some(e)),
            other => return other,
        }
    }
    found.unwrap_or(BlockCrypt::Plain {
        device: dev.to_string(),
    })
}

/// The sysfs block device behind `major:minor` (`/sys/dev/block/M:N` links
/// to `.../block/dm-0`).
pub fn block_device_name(root: &HostRoot, major_minor: &str) -> Option<String> {
    let link = root
        .read_link(&format!("{}/{major_minor}", paths::SYS_DEV_BLOCK))
        .ok()?;
    Some(basename(&link).to_string())
}

/// sshd settings in effect: keyword (lowercase) -> first value, following
/// `Include` and stopping at the first `Match` block, as sshd does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshdConfig {
    pub settings: BTreeMap<String, String>,
    /// Files read, in order.
    pub files: Vec<String>,
    /// Problems met (unreadable includes, untrusted files, garbage lines).
    pub problems: Vec<String>,
}

/// One sshd_config file's lines: `(keyword, value)` or `Include` patterns;
/// stops at `Match`. Pure. Returns the bad line numbers too.
pub fn parse_sshd_lines(text: &str) -> (Vec<(String, String)>, Vec<usize>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
            Some((k, v)) => (k.trim(), v.trim().trim_start_matches('=').trim()),
            None => (line, ""),
        };
        if key.is_empty() || value.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            bad.push(n + 1);
            continue;
        }
        let key = key.to_ascii_lowercase();
        if key == "match" {
            break;
        }
        out.push((key, value.trim_matches('"').to_string()));
    }
    (out, bad)
}

/// Reads sshd_config with its includes. `trusted` decides whether a file may
/// count (owner and mode); untrusted files are reported, not used.
pub fn read_sshd_config(
    root: &HostRoot,
    trusted: &dyn Fn(&str) -> Result<(), String>,
) -> Result<SshdConfig, String> {
    let mut config = SshdConfig::default();
    read_sshd_file(root, paths::SSHD_CONFIG, 0, trusted, &mut config)?;
    Ok(config)
}

fn read_sshd_file(
    root: &HostRoot,
    path: &str,
    depth: usize,
    trusted: &dyn Fn(&str) -> Result<(), String>,
    config: &mut SshdConfig,
) -> Result<(), String> {
    if depth > MAX_INCLUDE_DEPTH {
        config
            .problems
            .push(format!("{path}: includes nested too deeply"));
        return Ok(());
    }
    let text = match root.read_string_capped(path, CONFIG_CAP) {
        Ok(t) => t,
        Err(e) if depth == 0 => return Err(e.to_string()),
        Err(e) => {
            config.problems.push(e.to_string());
            return Ok(());
        }
    };
    if let Err(why) = trusted(path) {
        let msg = format!("{path} not trusted: {why}");
        if depth == 0 {
            return Err(msg);
        }
        config.problems.push(msg);
        return Ok(());
    }
    config.files.push(path.to_string());
    let (lines, bad) = parse_sshd_lines(&text);
    if !bad.is_empty() {
        config
            .problems
            .push(format!("{path}: unparsable line(s) {bad:?}"));
    }
    for (key, value) in lines {
        if key == "include" {
            for pattern in value.split_whitespace() {
                for file in expand_include(root, pattern) {
                    read_sshd_file(root, &file, depth + 1, trusted, config)?;
                }
            }
        } else {
            config.settings.entry(key).or_insert(value);
        }
    }
    Ok(())
}

/// Expands an sshd `Include` pattern (relative to /etc/ssh), sorted.
fn expand_include(root: &HostRoot, pattern: &str) -> Vec<String> {
    let full = if pattern.starts_with('/') {
        pattern.to_string()
    } else {
        join(paths::SSH_DIR, pattern)
    };
    let (dir, file_pattern) = match full.rsplit_once('/') {
        Some((d, f)) => (if d.is_empty() { "/" } else { d }, f),
        None => return Vec::new(),
    };
    let Ok(glob) = glob::Pattern::new(file_pattern) else {
        return Vec::new();
    };
    let mut files: Vec<String> = root
        .list_dir(dir, 1024)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| glob.matches(n))
        .map(|n| join(dir, &n))
        .collect();
    files.sort();
    files
}

/// A dconf keyfile: `[section]` -> key -> value. Pure.
pub fn parse_keyfile(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// `APT::Periodic::X "value";` settings, later lines winning. Pure.
pub fn parse_apt_periodic(text: &str, into: &mut BTreeMap<String, String>) {
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("APT::Periodic::") {
            if let Some((key, value)) = rest.split_once(char::is_whitespace) {
                let value = value.trim().trim_end_matches(';').trim().trim_matches('"');
                into.insert(key.trim().to_string(), value.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn boot_and_process_start_times() {
        assert_eq!(
            parse_btime("cpu 1 2\nbtime 1767571200\nprocesses 9\n"),
            Some(1_767_571_200)
        );
        assert_eq!(parse_btime("cpu 1 2\n"), None);
        let stat = "700 (falcon-sensor) S 1 700 700 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 4 0 12345600 1000";
        assert_eq!(parse_start_ticks(stat), Some(12_345_600));
        // A command name is the user's: spaces and parentheses in it do not
        // shift the fields.
        let hostile =
            "9 (x) 1 2 3 4 5 6 (y) S 1 700 700 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 4 0 42 1000";
        assert_eq!(parse_start_ticks(hostile), Some(42));
        assert_eq!(parse_start_ticks("9 (truncated"), None);
    }

    use super::*;

    #[test]
    fn mountinfo() {
        let text =
            "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro\n\
                    30 22 0:26 / /my\\040disk rw - tmpfs tmpfs rw\ngarbage\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].major_minor, "253:1");
        assert_eq!(m[0].source, "/dev/mapper/vg-root");
        assert_eq!(m[1].mount_point, "/my disk");
    }

    #[test]
    fn swaps_lockdown_secureboot() {
        let swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/dev/dm-2                               partition\t999420\t\t0\t\t-2\n/swap\\040file file 1 0 -3\n";
        assert_eq!(
            parse_swaps(swaps),
            [
                ("/dev/dm-2".to_string(), "partition".to_string()),
                ("/swap file".to_string(), "file".to_string())
            ]
        );
        assert_eq!(
            parse_lockdown("none [integrity] confidentiality\n").as_deref(),
            Some("integrity")
        );
        assert_eq!(parse_lockdown("garbage"), None);
        assert_eq!(parse_secure_boot_var(&[6, 0, 0, 0, 1]), Some(true));
        assert_eq!(parse_secure_boot_var(&[6, 0, 0, 0, 0]), Some(false));
        assert_eq!(parse_secure_boot_var(&[6, 0]), None);
    }

    #[test]
    fn sshd_lines() {
        let text = "# comment\nPermitRootLogin no\nPasswordAuthentication=yes\nInclude /etc/ssh/sshd_config.d/*.conf\n\u{0}\u{1}\nMatch User bob\n  PasswordAuthentication no\n";
        let (lines, bad) = parse_sshd_lines(text);
        assert_eq!(
            lines,
            [
                ("permitrootlogin".to_string(), "no".to_string()),
                ("passwordauthentication".to_string(), "yes".to_string()),
                (
                    "include".to_string(),
                    "/etc/ssh/sshd_config.d/*.conf".to_string()
                ),
            ]
        );
        assert_eq!(bad, [5]);
    }

    #[test]
    fn keyfiles_and_apt() {
        let k = parse_keyfile("[org/gnome/desktop/screensaver]\nlock-enabled=true\nlock-delay=uint32 0\n[org/gnome/desktop/session]\nidle-delay=uint32 300\n");
        assert_eq!(k["org/gnome/desktop/screensaver"]["lock-enabled"], "true");
        assert_eq!(k["org/gnome/desktop/session"]["idle-delay"], "uint32 300");
        let mut apt = BTreeMap::new();
        parse_apt_periodic("APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n", &mut apt);
        parse_apt_periodic("APT::Periodic::Unattended-Upgrade \"0\";\n", &mut apt);
        assert_eq!(apt["Unattended-Upgrade"], "0");
        assert_eq!(apt["Update-Package-Lists"], "1");
    }
}
