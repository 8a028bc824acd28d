//! `status_since`: since when each control has been in its current state,
//! from what the host's files say. One place per control, so the sources
//! can be read (and are listed in docs/REPORT.md):
//!
//! - kernel state set at boot (`mac`, `secure_boot`, `kernel_lockdown`):
//!   the boot time;
//! - daemons (`audit_daemon`, `time_sync`, `osquery`): running, the
//!   process's start time; not running and not enabled at boot, the boot
//!   time (it has not run since); enabled but not running, nothing tells;
//! - configuration (`firewall`, `auto_updates`, `ssh_*`, `screen_lock`,
//!   the macOS preference files, postern's policy and baseline): the latest
//!   change time (ctime, which no user can set) of the files that decide
//!   it, and of the directories they sit in (a file removed changes its
//!   directory);
//! - EDR agents: set by `edr.rs` (process start, or the last update of the
//!   agent's status file when it stopped);
//! - disk and swap encryption, FileVault, the remote access controls:
//!   nothing on the host tells, NULL.
//!
//! A time is "at least since": the state may be older (a file changed
//! without changing the state), never younger. `unknown` and
//! `not_applicable` rows get NULL.

use super::*;

fn ctime(path: &std::path::Path) -> Option<i64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.ctime())
}

/// Running: since the process started; not running and not enabled at
/// boot: since boot; otherwise unknown.
fn daemon(facts: &Facts<'_>, procs: &[&str], units: &[&str]) -> Option<i64> {
    if procs.iter().any(|p| facts.running(p)) {
        return facts.started(procs);
    }
    let known = units.iter().any(|u| facts.unit(u).is_some());
    let enabled = units.iter().any(|u| facts.unit_enabled(u));
    (facts.processes_known && known && !enabled)
        .then(|| facts.boot_time())
        .flatten()
}

pub(super) fn status_since(facts: &Facts<'_>, ctx: &GenerateContext<'_>, c: &Check) -> Option<i64> {
    if matches!(c.status, Status::Unknown | Status::NotApplicable) {
        return None;
    }
    match c.control {
        "mac" | "secure_boot" | "kernel_lockdown" => facts.boot_time(),
        "audit_daemon" => daemon(facts, &["auditd"], &["auditd.service"]),
        "time_sync" => daemon(
            facts,
            &["systemd-timesyncd", "chronyd", "ntpd"],
            &[
                "systemd-timesyncd.service",
                "chrony.service",
                "chronyd.service",
                "ntp.service",
                "ntpsec.service",
            ],
        ),
        "osquery" => daemon(facts, &["osqueryd"], &["osqueryd.service"]),
        "firewall" if facts.running("firewalld") => facts.started(&["firewalld"]),
        "firewall" => [
            facts.latest_change(&[paths::UFW_CONF, paths::NFTABLES_CONF]),
            facts.changed(paths::SYSTEMD_WANTS),
        ]
        .into_iter()
        .flatten()
        .max(),
        "auto_updates" => [
            facts.dir_change(paths::APT_CONF_D, 1),
            facts.changed(paths::DNF_AUTOMATIC_CONF),
            facts.changed(paths::SYSTEMD_TIMERS_WANTS),
        ]
        .into_iter()
        .flatten()
        .max(),
        "ssh_root_login" | "ssh_password_auth" => match facts.platform {
            Platform::Linux => facts
                .changed(paths::SSHD_CONFIG)
                .max(facts.dir_change(paths::SSHD_CONFIG_D, 1)),
            Platform::MacOs => facts.changed(paths::LAUNCHD_OVERRIDES),
        },
        "screen_lock" => facts.dir_change(paths::DCONF_DB, 3),
        "macos_firewall" => facts.changed(paths::ALF_PLIST),
        "gatekeeper" => facts.changed(paths::GATEKEEPER_PLIST),
        "macos_auto_updates" => facts
            .changed(paths::SOFTWARE_UPDATE_PLIST)
            .max(facts.dir_change(paths::MANAGED_PREFERENCES, 1)),
        "remote_login" => facts.changed(paths::LAUNCHD_OVERRIDES),
        "mdm_enrollment" => facts.changed(paths::MDM_CLOUD_CONFIG),
        // The policy is read inside the root unless named on the command
        // line; the baseline lives in postern's state directory.
        "postern_policy" => facts
            .changed(&ctx.policy.path)
            .or_else(|| ctime(std::path::Path::new(&ctx.policy.path))),
        "postern_baseline" => ctime(&ctx.state.file()),
        _ => None,
    }
}
