//! Linux system controls: firewall, automatic updates, MAC, secure boot,
//! kernel lockdown, audit daemon, time sync and screen lock.

use super::*;

pub(super) fn firewall(facts: &Facts<'_>) -> Check {
    let mut notes = Vec::new();
    let mut unknown = Vec::new();
    // ufw
    let ufw_installed = facts.package("ufw").is_some() || facts.root.exists(paths::UFW_CONF);
    if ufw_installed {
        match facts.trusted_text(paths::UFW_CONF) {
            Ok(Some(t)) => {
                let on = t
                    .lines()
                    .any(|l| l.trim().eq_ignore_ascii_case("ENABLED=yes"));
                if on {
                    return Check::new(
                        "firewall",
                        Status::Pass,
                        "ufw is enabled (ENABLED=yes in /etc/ufw/ufw.conf)",
                    )
                    .states(Some(true), None, Some(true));
                }
                notes.push("ufw installed but not enabled (ENABLED=no)".to_string());
            }
            Ok(None) => notes.push("ufw installed without /etc/ufw/ufw.conf".into()),
            Err(e) => unknown.push(e),
        }
    }
    // firewalld
    let fwd_unit = facts.unit("firewalld.service");
    if fwd_unit.is_some() || facts.running("firewalld") {
        let running = facts.running("firewalld");
        let enabled = facts.unit_enabled("firewalld.service");
        if running && enabled {
            return Check::new(
                "firewall",
                Status::Pass,
                "firewalld is running and enabled at boot",
            )
            .states(Some(true), Some(true), Some(true));
        }
        notes.push(format!(
            "firewalld {} and {}",
            if running { "running" } else { "not running" },
            if enabled {
                "enabled at boot"
            } else {
                "not enabled at boot"
            }
        ));
    }
    // nftables / iptables rules loaded at boot
    if facts.unit_enabled("nftables.service") {
        match facts.trusted_text(paths::NFTABLES_CONF) {
            Ok(Some(t)) if t.lines().any(|l| l.trim_start().starts_with("table ")) => {
                return Check::new(
                    "firewall",
                    Status::Pass,
                    "nftables.service is enabled and /etc/nftables.conf defines tables",
                )
                .states(Some(true), None, Some(true));
            }
            Ok(_) => notes
                .push("nftables.service enabled but /etc/nftables.conf defines no table".into()),
            Err(e) => unknown.push(e),
        }
    }
    let iptables_persistent = ["netfilter-persistent.service", "iptables.service"]
        .iter()
        .any(|u| facts.unit_enabled(u));
    if iptables_persistent {
        let loaded = facts
            .root
            .read_string_capped(paths::IPTABLES_NAMES, 4096)
            .is_ok_and(|t| !t.trim().is_empty());
        if loaded {
            return Check::new(
                "firewall",
                Status::Pass,
                "iptables rules are restored at boot and iptables tables are loaded",
            )
            .states(Some(true), None, Some(true));
        }
        notes.push("iptables persistence enabled but no iptables table is loaded".into());
    }
    if !unknown.is_empty() {
        return Check::new(
            "firewall",
            Status::Unknown,
            format!("{}; {}", unknown.join("; "), notes.join("; ")),
        );
    }
    let installed = ufw_installed || fwd_unit.is_some() || facts.unit("nftables.service").is_some();
    let (status, lead) = if installed {
        (
            Status::Degraded,
            "a firewall is installed but none is active",
        )
    } else {
        (
            Status::Fail,
            "no host firewall is installed or enabled (ufw, firewalld, nftables, iptables)",
        )
    };
    let detail = if notes.is_empty() {
        String::new()
    } else {
        format!(": {}", notes.join("; "))
    };
    Check::new("firewall", status, format!("{lead}{detail}")).states(
        Some(installed),
        Some(false),
        Some(false),
    )
}

pub(super) fn auto_updates(facts: &Facts<'_>) -> Check {
    if facts.root.exists(paths::DPKG_STATUS) {
        let ua = facts.package("unattended-upgrades");
        let mut periodic = BTreeMap::new();
        let files = facts
            .root
            .list_dir(paths::APT_CONF_D, 512)
            .unwrap_or_default();
        for f in &files {
            let path = join(paths::APT_CONF_D, f);
            match facts.trusted_text(&path) {
                Ok(Some(t)) => config::parse_apt_periodic(&t, &mut periodic),
                Ok(None) => {}
                Err(e) => return Check::new("auto_updates", Status::Unknown, e),
            }
        }
        let on = |k: &str| periodic.get(k).is_some_and(|v| v != "0" && !v.is_empty());
        let version = ua.and_then(|p| p.version.clone());
        let Some(_) = ua else {
            return Check::new(
                "auto_updates",
                Status::Fail,
                "unattended-upgrades is not installed",
            )
            .states(Some(false), None, Some(false));
        };
        let mut check = if on("Unattended-Upgrade") && on("Update-Package-Lists") {
            Check::new(
                "auto_updates",
                Status::Pass,
                "unattended-upgrades installed; APT::Periodic::Update-Package-Lists and Unattended-Upgrade are on",
            )
            .states(Some(true), None, Some(true))
        } else {
            Check::new(
                "auto_updates",
                Status::Fail,
                format!(
                    "unattended-upgrades installed but APT::Periodic::Unattended-Upgrade is {:?} and Update-Package-Lists is {:?} in /etc/apt/apt.conf.d",
                    periodic.get("Unattended-Upgrade").map(String::as_str).unwrap_or("unset"),
                    periodic.get("Update-Package-Lists").map(String::as_str).unwrap_or("unset")
                ),
            )
            .states(Some(true), None, Some(false))
        };
        check.version = version;
        return check;
    }
    if facts.packages.values().any(|p| p.source == "rpm") {
        let Some(pkg) = facts.package("dnf-automatic") else {
            return Check::new(
                "auto_updates",
                Status::Fail,
                "dnf-automatic is not installed",
            )
            .states(Some(false), None, Some(false));
        };
        let timer = ["dnf-automatic.timer", "dnf-automatic-install.timer"]
            .into_iter()
            .find(|t| facts.unit_enabled(t));
        let apply = match facts.trusted_text(paths::DNF_AUTOMATIC_CONF) {
            Ok(Some(t)) => config::parse_keyfile(&t)
                .get("commands")
                .and_then(|c| c.get("apply_updates"))
                .is_some_and(|v| matches!(v.as_str(), "yes" | "true" | "1")),
            Ok(None) => false,
            Err(e) => return Check::new("auto_updates", Status::Unknown, e),
        };
        let mut check = match timer {
            Some(t) if apply || t == "dnf-automatic-install.timer" => {
                Check::new("auto_updates", Status::Pass, format!("dnf-automatic installed and {t} enabled, applying updates"))
                    .states(Some(true), None, Some(true))
            }
            Some(t) => Check::new(
                "auto_updates",
                Status::Degraded,
                format!("{t} enabled but apply_updates is not yes: updates are downloaded, not installed"),
            )
            .states(Some(true), None, Some(true)),
            None => Check::new("auto_updates", Status::Fail, "dnf-automatic installed but its timer is not enabled")
                .states(Some(true), None, Some(false)),
        };
        check.version = pkg.version.clone();
        return check;
    }
    Check::new(
        "auto_updates",
        Status::Unknown,
        "neither a dpkg nor an RPM database was found to check",
    )
}

// ---------------------------------------------------------------- kernel, boot

pub(super) fn sysfs_text(facts: &Facts<'_>, path: &str) -> Result<Option<String>, String> {
    match facts.root.read_string_capped(path, 1 << 20) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

pub(super) fn mac(facts: &Facts<'_>) -> Check {
    match sysfs_text(facts, paths::SELINUX_ENFORCE) {
        Ok(Some(t)) if t.trim() == "1" => {
            return Check::new(
                "mac",
                Status::Pass,
                "SELinux is enforcing (/sys/fs/selinux/enforce is 1)",
            )
            .states(Some(true), Some(true), Some(true))
        }
        Ok(Some(_)) => {
            return Check::new(
                "mac",
                Status::Degraded,
                "SELinux is loaded but permissive (/sys/fs/selinux/enforce is 0)",
            )
            .states(Some(true), Some(true), Some(false))
        }
        Ok(None) => {}
        Err(e) => return Check::new("mac", Status::Unknown, e),
    }
    match sysfs_text(facts, paths::APPARMOR_ENABLED) {
        Ok(Some(t)) if t.trim() == "Y" => match sysfs_text(facts, paths::APPARMOR_PROFILES) {
            Ok(Some(profiles)) => {
                let enforce = profiles.lines().filter(|l| l.ends_with("(enforce)")).count();
                let complain = profiles.lines().filter(|l| l.ends_with("(complain)")).count();
                if enforce > 0 {
                    Check::new("mac", Status::Pass, format!("AppArmor is enabled with {enforce} profile(s) enforcing, {complain} complaining"))
                        .states(Some(true), Some(true), Some(true))
                } else {
                    Check::new("mac", Status::Degraded, format!("AppArmor is enabled but no profile enforces ({complain} complaining)"))
                        .states(Some(true), Some(true), Some(false))
                }
            }
            Ok(None) => Check::new("mac", Status::Degraded, "AppArmor is enabled but no profile is loaded")
                .states(Some(true), Some(true), Some(false)),
            Err(e) => Check::new("mac", Status::Unknown, format!("AppArmor is enabled, but its profile list cannot be read ({e}); run as root to tell whether profiles enforce")),
        },
        Ok(_) => Check::new("mac", Status::Fail, "neither SELinux nor AppArmor is enabled").states(Some(false), Some(false), Some(false)),
        Err(e) => Check::new("mac", Status::Unknown, e),
    }
}

pub(super) fn secure_boot(facts: &Facts<'_>) -> Check {
    if !facts.root.exists(paths::EFI_DIR) {
        return Check::new(
            "secure_boot",
            Status::Fail,
            "the machine booted in legacy BIOS mode (no /sys/firmware/efi)",
        )
        .states(None, None, Some(false));
    }
    match facts.root.read_capped(paths::SECURE_BOOT_VAR, 64) {
        Ok(bytes) => match config::parse_secure_boot_var(&bytes) {
            Some(true) => Check::new(
                "secure_boot",
                Status::Pass,
                "UEFI boot with the SecureBoot variable set to 1",
            )
            .states(None, None, Some(true)),
            Some(false) => Check::new(
                "secure_boot",
                Status::Fail,
                "UEFI boot with the SecureBoot variable set to 0",
            )
            .states(None, None, Some(false)),
            None => Check::new(
                "secure_boot",
                Status::Unknown,
                format!("the SecureBoot EFI variable holds unexpected bytes {bytes:02x?}"),
            ),
        },
        Err(e) if e.is_not_found() => Check::new(
            "secure_boot",
            Status::Unknown,
            "UEFI boot, but the SecureBoot EFI variable is absent (efivarfs not mounted?)",
        ),
        Err(e) => Check::new("secure_boot", Status::Unknown, e.to_string()),
    }
}

pub(super) fn kernel_lockdown(facts: &Facts<'_>) -> Check {
    match sysfs_text(facts, paths::LOCKDOWN) {
        Ok(Some(t)) => match config::parse_lockdown(&t).as_deref() {
            Some(mode @ ("integrity" | "confidentiality")) => Check::new(
                "kernel_lockdown",
                Status::Pass,
                format!("kernel lockdown is in {mode} mode"),
            )
            .states(None, None, Some(true)),
            Some(mode) => Check::new(
                "kernel_lockdown",
                Status::Fail,
                format!("kernel lockdown is {mode}"),
            )
            .states(None, None, Some(false)),
            None => Check::new(
                "kernel_lockdown",
                Status::Unknown,
                format!("unexpected lockdown state {:?}", t.trim()),
            ),
        },
        Ok(None) => Check::new(
            "kernel_lockdown",
            Status::Fail,
            "the kernel has no lockdown support (/sys/kernel/security/lockdown is absent)",
        )
        .states(None, None, Some(false)),
        Err(e) => Check::new("kernel_lockdown", Status::Unknown, e),
    }
}

/// A daemon check: installed (package or unit), running, enabled at boot.
pub(super) fn daemon(
    facts: &Facts<'_>,
    control: &'static str,
    what: &str,
    packages: &[&str],
    units: &[&str],
    procs: &[&str],
) -> Check {
    let package = packages.iter().find_map(|p| facts.package(p));
    let unit = units.iter().find(|u| facts.unit(u).is_some());
    let running = procs.iter().find(|p| facts.running(p));
    let enabled = units.iter().find(|u| facts.unit_enabled(u));
    let installed = package.is_some() || unit.is_some() || running.is_some();
    let status = match (installed, running.is_some(), enabled.is_some()) {
        (false, _, _) => Status::Fail,
        (true, true, true) => Status::Pass,
        _ => Status::Degraded,
    };
    let evidence = if installed {
        format!(
            "{what} {}; {}; {}",
            package.map_or("installed".to_string(), |p| format!(
                "package {} installed",
                p.name
            )),
            running.map_or("not running".to_string(), |p| format!("{p} running")),
            enabled.map_or("not enabled at boot".to_string(), |u| format!(
                "{u} enabled at boot"
            )),
        )
    } else {
        format!("{what} is not installed")
    };
    let mut check = Check::new(control, status, evidence).states(
        Some(installed),
        Some(running.is_some()),
        Some(enabled.is_some()),
    );
    check.version = package.and_then(|p| p.version.clone());
    check
}

pub(super) fn audit_daemon(facts: &Facts<'_>) -> Check {
    daemon(
        facts,
        "audit_daemon",
        "auditd",
        &["auditd", "audit"],
        &["auditd.service"],
        &["auditd"],
    )
}

pub(super) fn time_sync(facts: &Facts<'_>) -> Check {
    let daemons = [
        ("systemd-timesyncd", "systemd-timesyncd.service"),
        ("chronyd", "chrony.service"),
        ("chronyd", "chronyd.service"),
        ("ntpd", "ntp.service"),
        ("ntpd", "ntpsec.service"),
    ];
    if let Some((p, _)) = daemons.iter().find(|(p, _)| facts.running(p)) {
        let synced = if facts.root.exists(paths::TIMESYNC_SYNCHRONIZED) {
            "; systemd-timesyncd reports the clock synchronized"
        } else {
            ""
        };
        return Check::new("time_sync", Status::Pass, format!("{p} is running{synced}")).states(
            Some(true),
            Some(true),
            None,
        );
    }
    if let Some((_, u)) = daemons.iter().find(|(_, u)| facts.unit(u).is_some()) {
        return Check::new(
            "time_sync",
            Status::Degraded,
            format!("{u} is installed but its daemon is not running"),
        )
        .states(Some(true), Some(false), Some(facts.unit_enabled(u)));
    }
    Check::new(
        "time_sync",
        Status::Fail,
        "no time synchronisation daemon (systemd-timesyncd, chronyd, ntpd) is installed or running",
    )
    .states(Some(false), Some(false), Some(false))
}

/// Parses `uint32 300` / `300` as seconds.
pub(super) fn dconf_uint(value: &str) -> Option<u64> {
    value
        .trim()
        .trim_start_matches("uint32")
        .trim()
        .parse()
        .ok()
}

pub(super) fn screen_lock(facts: &Facts<'_>) -> Check {
    let dbs = match facts.root.list_dir(paths::DCONF_DB, 256) {
        Ok(d) => d,
        Err(e) if e.is_not_found() => {
            return Check::new("screen_lock", Status::Unknown, "no system-wide dconf database (/etc/dconf/db): no screen lock policy is set; per-user settings are not checked")
        }
        Err(e) => return Check::new("screen_lock", Status::Unknown, e.to_string()),
    };
    let mut settings: BTreeMap<String, String> = BTreeMap::new();
    let mut locked: BTreeSet<String> = BTreeSet::new();
    let mut problems = Vec::new();
    for db in dbs.iter().filter(|d| d.ends_with(".d")) {
        let dir = join(paths::DCONF_DB, db);
        for file in facts.root.list_dir(&dir, 256).unwrap_or_default() {
            let path = join(&dir, &file);
            if file == "locks" {
                for lock_file in facts.root.list_dir(&path, 256).unwrap_or_default() {
                    match facts.trusted_text(&join(&path, &lock_file)) {
                        Ok(Some(t)) => locked.extend(
                            t.lines()
                                .map(|l| l.trim().to_string())
                                .filter(|l| l.starts_with('/')),
                        ),
                        Ok(None) => {}
                        Err(e) => problems.push(e),
                    }
                }
                continue;
            }
            match facts.trusted_text(&path) {
                Ok(Some(t)) => {
                    for (section, keys) in config::parse_keyfile(&t) {
                        for (k, v) in keys {
                            settings.entry(format!("/{section}/{k}")).or_insert(v);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => problems.push(e),
            }
        }
    }
    const LOCK: &str = "/org/gnome/desktop/screensaver/lock-enabled";
    const IDLE: &str = "/org/gnome/desktop/session/idle-delay";
    let lock = settings.get(LOCK).map(|v| v.trim() == "true");
    let idle = settings.get(IDLE).and_then(|v| dconf_uint(v));
    if !problems.is_empty() {
        return Check::new(
            "screen_lock",
            Status::Unknown,
            format!("dconf settings not trusted: {}", problems.join("; ")),
        );
    }
    let desc = format!(
        "lock-enabled={}, idle-delay={}",
        lock.map_or("unset".to_string(), |l| l.to_string()),
        idle.map_or("unset".to_string(), |i| format!("{i}s"))
    );
    match (lock, idle) {
        (None, None) => Check::new("screen_lock", Status::Unknown, "no system-wide screen lock settings in /etc/dconf/db; per-user settings are not checked"),
        (Some(false), _) => Check::new("screen_lock", Status::Fail, format!("the system dconf policy disables the screen lock ({desc})")).states(None, None, Some(false)),
        (_, Some(0)) => Check::new("screen_lock", Status::Fail, format!("idle-delay 0 never locks ({desc})")).states(None, None, Some(false)),
        (_, Some(i)) if i > 900 => Check::new("screen_lock", Status::Fail, format!("idle-delay {i}s is longer than 15 minutes ({desc})")).states(None, None, Some(false)),
        (Some(true), Some(_)) if locked.contains(LOCK) && locked.contains(IDLE) => {
            Check::new("screen_lock", Status::Pass, format!("system dconf policy {desc}, both locked against user changes")).states(None, None, Some(true))
        }
        _ => Check::new("screen_lock", Status::Degraded, format!("system dconf policy {desc}, but not complete or not locked: users can change it")).states(None, None, Some(true)),
    }
}
