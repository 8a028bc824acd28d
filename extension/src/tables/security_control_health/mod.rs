//! `security_control_health`: is every required security control
//! installed, running, enabled and healthy? One row per control, plus one
//! `edr_agent` row per security agent found.
//!
//! Control definitions (category, severity, description, remediation) are
//! data (`extension/catalog/controls/`); the checks below read files only
//! (sysfs, procfs, configuration, plists) through the root and run no
//! commands. `unknown` is not `fail`: when postern cannot tell (a file only
//! root can read, a garbled configuration, a file a non-root user could have
//! written) the row says `unknown` and why, and never `pass`.
//!
//! Platforms: Linux (live and images), macOS images and live hosts from
//! files. The host kind is detected from the root, so a macOS disk image
//! audited on Linux gets the macOS controls.
//!
//! This file holds the table, its row shape and the facts every check
//! reads; each check is a small function over those facts, in the file of
//! its kind: `edr.rs` (agents), `encryption.rs`, `linux.rs` (firewall,
//! updates, MAC, boot, audit, time, screen lock), `ssh.rs`,
//! `remote_access.rs`, `postern.rs` (osquery, policy, baseline) and
//! `macos.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::UNIX_EPOCH;

use crate::agents::{Agent, AgentCatalog, AgentIndicators};
use crate::controls;
use crate::host::bundles::Bundle;
use crate::host::config::{self, BlockCrypt};
use crate::host::packages::Package;
use crate::host::processes::Process;
use crate::host::services::ServiceEntry;
use crate::policy::PolicyState;
use crate::root::{basename, join, paths, HostRoot};
use crate::table::{
    flag, text, Column, ColumnType, GenerateContext, QueryContext, Row, Table, TableOutput,
};
use crate::tables::remote_access_tools::RemoteAccessTools;

mod edr;
mod encryption;
mod linux;
mod macos;
mod postern;
mod remote_access;
mod since;
mod ssh;

use edr::edr_checks;
use encryption::{disk_encryption, swap_encryption};
use linux::{
    audit_daemon, auto_updates, firewall, kernel_lockdown, mac, screen_lock, secure_boot, time_sync,
};
use macos::{
    filevault, gatekeeper, macos_auto_updates, macos_firewall, macos_override_enabled,
    mdm_enrollment, remote_login,
};
use postern::{osquery, postern_baseline, postern_policy};
use remote_access::remote_access_checks;
use ssh::ssh;

pub struct SecurityControlHealth;

const COLUMNS: &[Column] = &[
    Column::new("control", ColumnType::Text, "Stable identifier of the control, as used in the policy's controls.required list."),
    Column::new("category", ColumnType::Text, "One of edr, encryption, firewall, updates, mac, boot, audit, ssh, screen_lock, remote_access, time, osquery, postern."),
    Column::new("product", ColumnType::Text, "Security agent catalog id for edr_agent rows, else empty."),
    Column::new("description", ColumnType::Text, "What the control requires."),
    Column::new("required", ColumnType::Integer, "1 if the policy requires this control (or this agent), else 0."),
    Column::new("status", ColumnType::Text, "pass, fail, degraded, unknown (postern cannot tell, see evidence) or not_applicable."),
    Column::new("installed", ColumnType::Integer, "1 if the software behind the control is installed, 0 if not, empty when meaningless."),
    Column::new("running", ColumnType::Integer, "1 if its process or service is running, 0 if not, empty when meaningless."),
    Column::new("enabled", ColumnType::Integer, "1 if it is enabled at boot or configured on, 0 if not, empty when meaningless."),
    Column::new("version", ColumnType::Text, "Version of the software behind the control when known."),
    Column::new("evidence", ColumnType::Text, "What was read, in a sentence a person can check on the host."),
    Column::new("remediation", ColumnType::Text, "One sentence on how to fix a control that does not pass; empty when it passes."),
    Column::new("severity", ColumnType::Text, "critical, high, medium or low: how much a failure of this control matters."),
    Column::new("checked_at", ColumnType::BigInt, "Time of the check, in Unix seconds."),
    Column::new("status_since", ColumnType::BigInt, "Since when the control has been in its current state, in Unix seconds, where a file on the host tells: a process's start time, a configuration file's change time, a status file's last update, the boot time for kernel state (docs/REPORT.md lists the source per control); NULL where nothing tells. postern report uses it for time to identify."),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Degraded,
    Unknown,
    NotApplicable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Degraded => "degraded",
            Status::Unknown => "unknown",
            Status::NotApplicable => "not_applicable",
        }
    }
}

/// The outcome of one check.
#[derive(Clone, Debug)]
struct Check {
    control: &'static str,
    product: Option<String>,
    status: Status,
    installed: Option<bool>,
    running: Option<bool>,
    enabled: Option<bool>,
    version: Option<String>,
    evidence: String,
    /// A fix for this situation in place of the control's usual one.
    fix: Option<String>,
    /// Since when it is in this state, when the check itself knows (EDR
    /// agents); the others come from `since.rs`.
    since: Option<i64>,
}

impl Check {
    fn new(control: &'static str, status: Status, evidence: impl Into<String>) -> Self {
        Check {
            control,
            product: None,
            status,
            installed: None,
            running: None,
            enabled: None,
            version: None,
            evidence: evidence.into(),
            fix: None,
            since: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn states(
        mut self,
        installed: Option<bool>,
        running: Option<bool>,
        enabled: Option<bool>,
    ) -> Self {
        self.installed = installed;
        self.running = running;
        self.enabled = enabled;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Platform {
    Linux,
    MacOs,
}

/// Facts read once per generate and shared by the checks.
struct Facts<'a> {
    root: &'a HostRoot,
    platform: Platform,
    processes: &'a [Process],
    process_names: BTreeSet<&'a str>,
    /// False where processes cannot be read from files (a macOS host or
    /// image has no /proc): `running` is then unknown, not false.
    processes_known: bool,
    /// dpkg and RPM packages by name.
    packages: BTreeMap<&'a str, &'a Package>,
    services: &'a [ServiceEntry],
    bundles: &'a [Bundle],
    now: i64,
    /// `boot_time`'s answer, once read.
    boot: std::cell::OnceCell<Option<i64>>,
}

impl<'a> Facts<'a> {
    fn running(&self, name: &str) -> bool {
        self.process_names.contains(name)
    }

    /// Whether any of `names` runs, or `None` when processes are unreadable.
    fn running_any<'n>(&self, names: &'n [String]) -> Option<Option<&'n String>> {
        self.processes_known
            .then(|| names.iter().find(|n| self.running(n)))
    }

    fn package(&self, name: &str) -> Option<&'a Package> {
        self.packages.get(name).copied()
    }

    fn unit(&self, name: &str) -> Option<&ServiceEntry> {
        self.services
            .iter()
            .find(|s| s.name == name && (s.kind == "systemd" || s.kind == "launchd"))
    }

    fn unit_enabled(&self, name: &str) -> bool {
        self.unit(name).is_some_and(|u| u.enabled == Some(true))
    }

    /// A configuration file's text, if it exists and only its trusted owner
    /// could have written it. `Ok(None)` when absent.
    fn trusted_text(&self, path: &str) -> Result<Option<String>, String> {
        match self.root.read_string_capped(path, 1 << 20) {
            Ok(text) => {
                self.root
                    .check_trusted(path)
                    .map_err(|why| format!("{path} not trusted: {why}"))?;
                Ok(Some(text))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    fn plist(&self, path: &str) -> Result<Option<plist::Value>, String> {
        match self.root.read_capped(path, 4 << 20) {
            Ok(bytes) => {
                self.root
                    .check_trusted(path)
                    .map_err(|why| format!("{path} not trusted: {why}"))?;
                crate::host::plists::parse(&bytes)
                    .map(Some)
                    .map_err(|e| format!("{path} is not a valid property list: {e}"))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The change time (ctime: content, owner or mode; no user can set it)
    /// of a file, without following a final symlink.
    fn changed(&self, path: &str) -> Option<i64> {
        use std::os::unix::fs::MetadataExt;
        self.root.symlink_metadata(path).ok().map(|m| m.ctime())
    }

    /// The latest change of any of `paths`.
    fn latest_change(&self, paths: &[&str]) -> Option<i64> {
        paths.iter().filter_map(|p| self.changed(p)).max()
    }

    /// The latest change of a directory (an entry added or removed) or of
    /// any file in it, at most `cap` entries, `depth` levels down.
    fn dir_change(&self, dir: &str, depth: u32) -> Option<i64> {
        let mut latest = self.changed(dir);
        for entry in self.root.list_dir(dir, 256).unwrap_or_default() {
            let path = join(dir, &entry);
            let t = if depth > 1 {
                self.dir_change(&path, depth - 1)
            } else {
                self.changed(&path)
            };
            latest = latest.max(t);
        }
        latest
    }

    /// When the host booted (`btime` in /proc/stat), read once per generate.
    fn boot_time(&self) -> Option<i64> {
        *self.boot.get_or_init(|| {
            let text = self
                .root
                .read_string_capped(paths::PROC_STAT, 1 << 20)
                .ok()?;
            config::parse_btime(&text)
        })
    }

    /// The earliest start time of a running process called one of `names`,
    /// from /proc/PID/stat (clock ticks after boot; USER_HZ is 100 on every
    /// architecture Linux exposes it on).
    fn started(&self, names: &[&str]) -> Option<i64> {
        let boot = self.boot_time()?;
        self.processes
            .iter()
            .filter(|p| p.names().iter().any(|n| names.contains(n)))
            .filter_map(|p| {
                let stat = self
                    .root
                    .read_string_capped(&format!("/proc/{}/stat", p.pid), 4096)
                    .ok()?;
                config::parse_start_ticks(&stat).map(|ticks| boot + (ticks / 100) as i64)
            })
            .min()
    }

    fn mtime(&self, path: &str) -> Option<i64> {
        let meta = self.root.metadata(path).ok()?;
        let t = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        i64::try_from(t.as_secs()).ok()
    }
}

/// A check that needs only the gathered facts.
type CheckFn = fn(&Facts<'_>) -> Check;

fn detect_platform(root: &HostRoot) -> Platform {
    if root.exists(paths::MACOS_SYSTEM_VERSION) {
        Platform::MacOs
    } else {
        Platform::Linux
    }
}

fn gather<'a>(ctx: &GenerateContext<'a>) -> Facts<'a> {
    let root = ctx.root;
    let host = ctx.host;
    let platform = detect_platform(root);
    let process_names = host.processes().iter().flat_map(|p| p.names()).collect();
    let packages = host
        .packages()
        .iter()
        .filter(|p| p.source == "deb" || p.source == "rpm")
        .map(|p| (p.name.as_str(), p))
        .collect();
    let bundles: &[Bundle] = if platform == Platform::MacOs {
        host.bundles()
    } else {
        &[]
    };
    Facts {
        root,
        platform,
        processes: host.processes(),
        process_names,
        processes_known: root.exists(paths::PROC_INIT),
        packages,
        services: host.services(),
        bundles,
        now: ctx.now,
        boot: std::cell::OnceCell::new(),
    }
}

impl Table for SecurityControlHealth {
    fn name(&self) -> &'static str {
        "security_control_health"
    }

    fn description(&self) -> &'static str {
        "Whether each required security control (EDR, disk encryption, firewall, updates, MAC, secure boot, audit, SSH, screen lock, remote access, time, osquery) is installed, running, enabled and healthy, with the evidence and the fix."
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["linux", "darwin"]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput {
        let mut warnings = Vec::new();
        let facts = gather(ctx);
        let mut checks = Vec::new();
        let wants = |id: &str| ctx.query.admits("control", id);
        if wants("edr") || wants("edr_agent") {
            checks.extend(edr_checks(&facts, ctx));
        }
        let linux: &[(&str, CheckFn)] = &[
            ("disk_encryption", disk_encryption),
            ("swap_encryption", swap_encryption),
            ("firewall", firewall),
            ("auto_updates", auto_updates),
            ("mac", mac),
            ("secure_boot", secure_boot),
            ("kernel_lockdown", kernel_lockdown),
            ("audit_daemon", audit_daemon),
            ("screen_lock", screen_lock),
            ("time_sync", time_sync),
        ];
        let macos: &[(&str, CheckFn)] = &[
            ("macos_firewall", macos_firewall),
            ("gatekeeper", gatekeeper),
            ("macos_auto_updates", macos_auto_updates),
            ("remote_login", remote_login),
            ("filevault", filevault),
            ("mdm_enrollment", mdm_enrollment),
        ];
        let own = match facts.platform {
            Platform::Linux => linux,
            Platform::MacOs => macos,
        };
        for (id, check) in own {
            if wants(id) {
                checks.push(check(&facts));
            }
        }
        for id in ["ssh_root_login", "ssh_password_auth"] {
            if wants(id) {
                checks.push(ssh(&facts, id));
            }
        }
        if wants("remote_desktop_services")
            || wants("unapproved_remote_access")
            || wants("screen_sharing")
            || wants("remote_management")
        {
            checks.extend(remote_access_checks(&facts, ctx, &mut warnings));
        }
        if wants("osquery") {
            checks.push(osquery(&facts));
        }
        if wants("postern_policy") {
            checks.push(postern_policy(ctx));
        }
        if wants("postern_baseline") {
            checks.push(postern_baseline(ctx));
        }
        for c in &mut checks {
            if c.since.is_none() {
                c.since = since::status_since(&facts, ctx, c);
            }
        }
        let rows = checks
            .into_iter()
            .filter(|c| wants(c.control))
            .filter_map(|c| to_row(c, ctx))
            .collect();
        TableOutput { rows, warnings }
    }
}

fn to_row(c: Check, ctx: &GenerateContext<'_>) -> Option<Row> {
    let def = controls::get(c.control)?;
    let policy = &ctx.policy.policy;
    let required = match &c.product {
        Some(product) => policy.edr_required_any.contains(product),
        None => {
            policy.required_controls.contains(c.control)
                || (c.control == "edr" && !policy.edr_required_any.is_empty())
        }
    };
    let remediation = match c.status {
        Status::Pass | Status::NotApplicable => None,
        _ => Some(c.fix.clone().unwrap_or_else(|| def.remediation.clone())),
    };
    let opt = |b: Option<bool>| b.and_then(flag);
    let since = c.since.filter(|t| *t > 0 && *t <= ctx.now);
    Some(vec![
        text(c.control),
        text(def.category.clone()),
        c.product,
        text(def.description.clone()),
        flag(required),
        text(c.status.as_str()),
        opt(c.installed),
        opt(c.running),
        opt(c.enabled),
        c.version,
        text(c.evidence),
        remediation,
        text(def.severity.clone()),
        Some(ctx.now.to_string()),
        since.map(|t| t.to_string()),
    ])
}
