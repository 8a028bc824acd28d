//! Persistence: systemd units (system and per-user), SysV init scripts
//! started from the runlevel directories, crontab `@reboot` entries, XDG
//! autostart entries and launchd jobs, read from their files. Nothing is
//! asked of a running service manager.

use std::collections::{BTreeMap, BTreeSet};

use crate::root::{join, paths, HostRoot};

const MAX_ENTRIES: usize = 20_000;
const DESKTOP_CAP: u64 = 256 * 1024;
const PLIST_CAP: u64 = 1 << 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceEntry {
    /// `systemd`, `systemd_user`, `sysv`, `cron_reboot`, `xdg_autostart`,
    /// `launchd`.
    pub kind: &'static str,
    /// Unit name (`anydesk.service`), autostart file name, or launchd label.
    pub name: String,
    /// Host path of the definition.
    pub path: String,
    /// Enabled at boot or login, when the files tell.
    pub enabled: Option<bool>,
    /// Basename of the program it starts, when the definition says (for a
    /// timer, path or socket unit: the program of the unit it activates).
    pub program: Option<String>,
    /// The unit a timer, path or socket unit activates.
    pub activates: Option<String>,
    pub user: Option<String>,
}

const CRONTAB_CAP: u64 = 256 * 1024;

/// The programs a crontab starts at boot: the first word of the command of
/// each `@reboot` line (after the user field in system crontabs), as a
/// basename. Pure.
pub fn parse_reboot_entries(text: &str, has_user_field: bool) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("@reboot")?;
            let mut words = rest.split_whitespace();
            if has_user_field {
                words.next()?;
            }
            // `VAR=value cmd` and `exec cmd` still start `cmd`.
            let program = words.find(|w| !w.contains('=') && *w != "exec" && *w != "nohup")?;
            Some(crate::root::basename(program).to_string())
        })
        .filter(|p| !p.is_empty())
        .collect()
}

/// A template unit's name for an instance (`vncserver@:1.service` ->
/// `vncserver@.service`). Pure.
pub fn template_of(unit: &str) -> Option<String> {
    let (prefix, rest) = unit.split_once('@')?;
    let suffix = rest.rfind('.').and_then(|i| rest.get(i..))?;
    Some(format!("{prefix}@{suffix}"))
}

/// The fields of a desktop entry's `[Desktop Entry]` group that postern
/// reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DesktopFields {
    /// The first `Name=` (unlocalised).
    pub name: Option<String>,
    /// Basename of `Exec=`'s program (first word, after `env VAR=...`).
    pub program: Option<String>,
    /// `Hidden=true` or `X-GNOME-Autostart-enabled=false`.
    pub disabled: bool,
}

/// Reads a desktop entry (XDG autostart, an AppImage's). Pure.
pub fn desktop_fields(text: &str) -> DesktopFields {
    let mut fields = DesktopFields::default();
    let mut in_main = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_main = line == "[Desktop Entry]";
            continue;
        }
        if !in_main {
            continue;
        }
        if let Some(name) = line.strip_prefix("Name=") {
            if fields.name.is_none() && !name.trim().is_empty() {
                fields.name = Some(name.trim().to_string());
            }
        } else if let Some(exec) = line.strip_prefix("Exec=") {
            fields.program = exec
                .split_whitespace()
                .find(|w| *w != "env" && !w.contains('='))
                .map(|w| crate::root::basename(w.trim_matches('"')).to_string())
                .filter(|p| !p.is_empty());
        } else if line.eq_ignore_ascii_case("Hidden=true")
            || line.eq_ignore_ascii_case("X-GNOME-Autostart-enabled=false")
        {
            fields.disabled = true;
        }
    }
    fields
}

/// The executable basename of a desktop entry's `Exec=`, and whether it is
/// disabled. Pure.
pub fn parse_desktop_entry(text: &str) -> (Option<String>, bool) {
    let fields = desktop_fields(text);
    (fields.program, fields.disabled)
}

/// `ExecStart=` program basename of a systemd unit. Pure.
pub fn parse_unit_exec(text: &str) -> Option<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ExecStart="))
        .filter_map(|cmd| {
            cmd.trim_start_matches(['@', '-', ':', '+', '!'])
                .split_whitespace()
                .next()
        })
        .map(|w| crate::root::basename(w).to_string())
        .next()
}

/// The unit a timer or path unit (`Unit=`, else the `.service` of the same
/// name) or a socket unit (`Service=`, else the same name's `.service`)
/// activates; `None` for other units. Pure.
pub fn activated_unit(name: &str, text: &str) -> Option<String> {
    let (stem, key) = if let Some(stem) = name.strip_suffix(".timer") {
        (stem, "Unit=")
    } else if let Some(stem) = name.strip_suffix(".path") {
        (stem, "Unit=")
    } else if let Some(stem) = name.strip_suffix(".socket") {
        (stem, "Service=")
    } else {
        return None;
    };
    let named = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
        .rfind(|v| !v.is_empty());
    Some(named.map_or_else(|| format!("{stem}.service"), str::to_string))
}

/// Gives timer, path and socket units the program of the unit they
/// activate, from the same kind of directory and user.
fn resolve_activations(entries: &mut [ServiceEntry]) {
    let programs: BTreeMap<(&'static str, Option<String>, String), String> = entries
        .iter()
        .filter_map(|e| {
            let program = e.program.clone()?;
            Some(((e.kind, e.user.clone(), e.name.clone()), program))
        })
        .collect();
    for entry in entries.iter_mut().filter(|e| e.program.is_none()) {
        if let Some(target) = &entry.activates {
            let key = (entry.kind, entry.user.clone(), target.clone());
            entry.program = programs.get(&key).cloned();
        }
    }
}

/// Label and program basename of a launchd plist (XML or binary). Pure.
pub fn parse_launchd_plist(bytes: &[u8]) -> Result<(Option<String>, Option<String>, bool), String> {
    let value = crate::host::plists::parse(bytes)?;
    let dict = value.as_dictionary().ok_or("not a dictionary")?;
    let label = dict
        .get("Label")
        .and_then(|v| v.as_string())
        .map(str::to_string);
    let program = dict
        .get("Program")
        .and_then(|v| v.as_string())
        .or_else(|| {
            dict.get("ProgramArguments")
                .and_then(|v| v.as_array())
                .and_then(|a| a.first())
                .and_then(|v| v.as_string())
        })
        .map(|p| crate::root::basename(p).to_string());
    let disabled = dict
        .get("Disabled")
        .and_then(|v| v.as_boolean())
        .unwrap_or(false);
    Ok((label, program, disabled))
}

/// Names linked from `*.wants`/`*.requires` directories of a systemd
/// directory: the enabled units (instances and their templates).
fn enabled_units(root: &HostRoot, dir: &str) -> BTreeSet<String> {
    enabled_links(root, dir).into_keys().collect()
}

/// Enabled unit names (instances and their templates) mapped to the link
/// that enables them.
fn enabled_links(root: &HostRoot, dir: &str) -> BTreeMap<String, String> {
    let mut enabled = BTreeMap::new();
    let Ok(names) = root.list_dir(dir, MAX_ENTRIES) else {
        return enabled;
    };
    for wants in names
        .iter()
        .filter(|n| n.ends_with(".wants") || n.ends_with(".requires"))
    {
        let wants_dir = join(dir, wants);
        if let Ok(units) = root.list_dir(&wants_dir, MAX_ENTRIES) {
            for unit in units {
                let link = join(&wants_dir, &unit);
                if let Some(t) = template_of(&unit) {
                    enabled.entry(t).or_insert_with(|| link.clone());
                }
                enabled.entry(unit).or_insert(link);
            }
        }
    }
    enabled
}

/// Lists one unit directory. Units masked here (linked to /dev/null) are
/// added to `masked` and hidden, here and in directories read later.
/// Vendor directories hold package-managed units, matched by name: their
/// files are not read (a unit a user drops in lands in /etc or a home).
fn unit_dir(
    root: &HostRoot,
    dir: &str,
    kind: &'static str,
    enabled: &BTreeSet<String>,
    user: Option<&str>,
    masked: &mut BTreeSet<String>,
    out: &mut Vec<ServiceEntry>,
) {
    let Ok(names) = root.list_dir(dir, MAX_ENTRIES) else {
        return;
    };
    let vendor = paths::SYSTEMD_VENDOR_PREFIXES
        .iter()
        .any(|p| dir.starts_with(p));
    for name in names {
        let is_unit = [".service", ".socket", ".timer", ".path"]
            .iter()
            .any(|s| name.ends_with(s));
        if !is_unit || masked.contains(&name) {
            continue;
        }
        let path = join(dir, &name);
        if !vendor && root.read_link(&path).is_ok_and(|t| t == paths::DEV_NULL) {
            masked.insert(name);
            continue;
        }
        let text = if vendor {
            None
        } else {
            root.read_string_capped(&path, DESKTOP_CAP).ok()
        };
        let program = text.as_deref().and_then(parse_unit_exec);
        let activates = text.as_deref().and_then(|t| activated_unit(&name, t));
        out.push(ServiceEntry {
            kind,
            enabled: Some(enabled.contains(&name)),
            name,
            path,
            program,
            activates,
            user: user.map(str::to_string),
        });
    }
}

/// All persistence entries of the host.
/// The unit directories that exist, each once: with a merged /usr, /lib is
/// a link to /usr/lib and the same directory must not be read twice.
fn distinct_dirs(root: &HostRoot, dirs: &[&'static str]) -> Vec<&'static str> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = BTreeSet::new();
    dirs.iter()
        .copied()
        .filter(|d| {
            root.metadata(d)
                .is_ok_and(|m| m.is_dir() && seen.insert((m.dev(), m.ino())))
        })
        .collect()
}

pub fn services(root: &HostRoot, homes: &[(String, Option<String>)]) -> Vec<ServiceEntry> {
    let mut out = Vec::new();
    let system_dirs = distinct_dirs(root, paths::SYSTEMD_UNIT_DIRS);
    let user_dirs = distinct_dirs(root, paths::SYSTEMD_USER_UNIT_DIRS);
    let mut enabled = BTreeSet::new();
    for dir in system_dirs.iter().chain(&user_dirs) {
        enabled.extend(enabled_units(root, dir));
    }
    let mut seen = BTreeSet::new();
    let mut masked = BTreeSet::new();
    for dir in &system_dirs {
        let mut found = Vec::new();
        unit_dir(
            root,
            dir,
            "systemd",
            &enabled,
            None,
            &mut masked,
            &mut found,
        );
        // The first directory in search order wins, as in systemd.
        out.extend(found.into_iter().filter(|e| seen.insert(e.name.clone())));
    }
    let mut user_masked = BTreeSet::new();
    for dir in &user_dirs {
        unit_dir(
            root,
            dir,
            "systemd_user",
            &enabled,
            None,
            &mut user_masked,
            &mut out,
        );
    }
    for (home, owner) in homes {
        let dir = join(home, paths::HOME_SYSTEMD_USER_DIR);
        let user_links = enabled_links(root, &dir);
        let user_enabled: BTreeSet<String> = user_links.keys().cloned().collect();
        let before = out.len();
        unit_dir(
            root,
            &dir,
            "systemd_user",
            &user_enabled,
            owner.as_deref(),
            &mut BTreeSet::new(),
            &mut out,
        );
        let own: BTreeSet<String> = out.iter().skip(before).map(|e| e.name.clone()).collect();
        // Units shipped system-wide (gnome-remote-desktop.service) that this
        // user enabled for their own session.
        for (name, link) in user_links {
            if own.contains(&name) || name.contains("@.") {
                continue;
            }
            out.push(ServiceEntry {
                kind: "systemd_user",
                name,
                path: link,
                enabled: Some(true),
                program: None,
                activates: None,
                user: owner.clone(),
            });
        }
    }
    resolve_activations(&mut out);
    out.extend(sysv_scripts(root));
    out.extend(reboot_crontabs(root));
    let mut autostart_dirs: Vec<(String, Option<String>)> = paths::XDG_AUTOSTART_DIRS
        .iter()
        .map(|d| (d.to_string(), None))
        .collect();
    autostart_dirs.extend(
        homes
            .iter()
            .map(|(h, o)| (join(h, paths::HOME_AUTOSTART_DIR), o.clone())),
    );
    for (dir, owner) in autostart_dirs {
        let Ok(names) = root.list_dir(&dir, MAX_ENTRIES) else {
            continue;
        };
        for name in names.into_iter().filter(|n| n.ends_with(".desktop")) {
            let path = join(&dir, &name);
            let (program, disabled) = root
                .read_string_capped(&path, DESKTOP_CAP)
                .map(|t| parse_desktop_entry(&t))
                .unwrap_or((None, false));
            out.push(ServiceEntry {
                kind: "xdg_autostart",
                name,
                path,
                enabled: Some(!disabled),
                program,
                activates: None,
                user: owner.clone(),
            });
        }
    }
    let mut launchd_dirs: Vec<(String, Option<String>)> = paths::LAUNCHD_DIRS
        .iter()
        .map(|d| (d.to_string(), None))
        .collect();
    launchd_dirs.extend(
        homes
            .iter()
            .map(|(h, o)| (join(h, paths::HOME_LAUNCH_AGENTS), o.clone())),
    );
    for (dir, owner) in launchd_dirs {
        let Ok(names) = root.list_dir(&dir, MAX_ENTRIES) else {
            continue;
        };
        for name in names.into_iter().filter(|n| n.ends_with(".plist")) {
            let path = join(&dir, &name);
            let file_label = name.trim_end_matches(".plist").to_string();
            let (label, program, disabled) = match root.read_capped(&path, PLIST_CAP) {
                Ok(bytes) => parse_launchd_plist(&bytes).unwrap_or_else(|e| {
                    log::info!("{path}: unreadable plist ({e}); using its file name");
                    (None, None, false)
                }),
                Err(e) => {
                    log::info!("{e}");
                    (None, None, false)
                }
            };
            out.push(ServiceEntry {
                kind: "launchd",
                name: label.unwrap_or(file_label),
                path,
                enabled: Some(!disabled),
                program,
                activates: None,
                user: owner.clone(),
            });
        }
    }
    out
}

/// SysV init scripts, enabled when a runlevel directory starts them (an
/// `S..name` link to `../init.d/name`).
fn sysv_scripts(root: &HostRoot) -> Vec<ServiceEntry> {
    let Ok(scripts) = root.list_dir(paths::INIT_D, MAX_ENTRIES) else {
        return Vec::new();
    };
    let mut started = BTreeSet::new();
    for dir in paths::RC_DIRS {
        for link in root.list_dir(dir, MAX_ENTRIES).unwrap_or_default() {
            if let Some(rest) = link.strip_prefix('S') {
                started.insert(
                    rest.trim_start_matches(|c: char| c.is_ascii_digit())
                        .to_string(),
                );
            }
        }
    }
    scripts
        .into_iter()
        .filter(|name| !name.starts_with('.') && name != "README" && name != "skeleton")
        .map(|name| ServiceEntry {
            kind: "sysv",
            path: join(paths::INIT_D, &name),
            enabled: Some(started.contains(&name)),
            program: Some(name.clone()),
            activates: None,
            name,
            user: None,
        })
        .collect()
}

/// Programs started at boot by crontab `@reboot` lines.
fn reboot_crontabs(root: &HostRoot) -> Vec<ServiceEntry> {
    let mut tabs: Vec<(String, bool, Option<String>)> =
        vec![(paths::SYSTEM_CRONTAB.to_string(), true, None)];
    for name in root
        .list_dir(paths::CRON_D, MAX_ENTRIES)
        .unwrap_or_default()
    {
        tabs.push((join(paths::CRON_D, &name), true, None));
    }
    for dir in paths::USER_CRONTAB_DIRS {
        for user in root.list_dir(dir, MAX_ENTRIES).unwrap_or_default() {
            tabs.push((join(dir, &user), false, Some(user)));
        }
    }
    let mut out = Vec::new();
    for (path, has_user_field, user) in tabs {
        // `/var/spool/cron/crontabs` itself is listed in `/var/spool/cron`.
        let Ok(text) = root.read_string_capped(&path, CRONTAB_CAP) else {
            continue;
        };
        for program in parse_reboot_entries(&text, has_user_field) {
            out.push(ServiceEntry {
                kind: "cron_reboot",
                name: format!("@reboot {program}"),
                path: path.clone(),
                enabled: Some(true),
                program: Some(program),
                activates: None,
                user: user.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_lines_of_crontabs() {
        let system = "SHELL=/bin/sh\n# @reboot root /usr/bin/commented\n@reboot root /opt/x/anydesk --service\n\
                      @reboot   bob  HOME=/x nohup /home/bob/.cache/rustdesk >/dev/null 2>&1\n\
                      0 * * * * root /usr/bin/hourly\n@reboot\n";
        assert_eq!(parse_reboot_entries(system, true), ["anydesk", "rustdesk"]);
        let user = "@reboot /home/bob/bin/ngrok http 22\n@daily /usr/bin/x\n";
        assert_eq!(parse_reboot_entries(user, false), ["ngrok"]);
        assert!(parse_reboot_entries("garbage\n\0\n@reboot", false).is_empty());
    }

    #[test]
    fn units_that_activate_others() {
        assert_eq!(
            activated_unit("sync.timer", "[Timer]\nOnBootSec=1min\n").as_deref(),
            Some("sync.service")
        );
        assert_eq!(
            activated_unit("sync.timer", "[Timer]\nUnit=upd.service\n").as_deref(),
            Some("upd.service")
        );
        assert_eq!(
            activated_unit("w.path", "[Path]\nPathChanged=/x\nUnit=y.service\n").as_deref(),
            Some("y.service")
        );
        assert_eq!(
            activated_unit("v.socket", "[Socket]\nService=vnc.service\n").as_deref(),
            Some("vnc.service")
        );
        assert_eq!(activated_unit("v.service", "Unit=x.service"), None);
    }

    #[test]
    fn templates() {
        assert_eq!(
            template_of("vncserver@:1.service").as_deref(),
            Some("vncserver@.service")
        );
        assert_eq!(
            template_of("chrome-remote-desktop@bob.service").as_deref(),
            Some("chrome-remote-desktop@.service")
        );
        assert_eq!(template_of("anydesk.service"), None);
    }

    #[test]
    fn desktop_entries() {
        let (prog, disabled) = parse_desktop_entry("[Desktop Entry]\nType=Application\nExec=env FOO=1 /usr/bin/anydesk --tray\n[Desktop Action x]\nExec=other\n");
        assert_eq!(prog.as_deref(), Some("anydesk"));
        assert!(!disabled);
        let (_, disabled) = parse_desktop_entry("[Desktop Entry]\nExec=x\nHidden=true\n");
        assert!(disabled);
        assert_eq!(parse_desktop_entry("\u{0}garbage"), (None, false));
    }

    #[test]
    fn unit_exec() {
        assert_eq!(
            parse_unit_exec("[Service]\nExecStart=-/usr/sbin/xrdp --nodaemon\n").as_deref(),
            Some("xrdp")
        );
        assert_eq!(parse_unit_exec("[Unit]\n"), None);
    }

    #[test]
    fn launchd_plists() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>Label</key><string>com.philandro.anydesk.service</string>
<key>ProgramArguments</key><array><string>/Applications/AnyDesk.app/Contents/MacOS/AnyDesk</string><string>--service</string></array>
</dict></plist>"#;
        let (label, program, disabled) = parse_launchd_plist(xml).unwrap();
        assert_eq!(label.as_deref(), Some("com.philandro.anydesk.service"));
        assert_eq!(program.as_deref(), Some("AnyDesk"));
        assert!(!disabled);
        assert!(parse_launchd_plist(&xml[..60]).is_err());
        assert!(parse_launchd_plist(b"bplist00\x01\x02").is_err());
    }
}
