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

use std::collections::{BTreeMap, BTreeSet};
use std::time::UNIX_EPOCH;

use crate::agents::{Agent, AgentCatalog, AgentIndicators};
use crate::controls;
use crate::host::bundles::Bundle;
use crate::host::config::{self, BlockCrypt};
use crate::host::packages::Package;
use crate::host::services::ServiceEntry;
use crate::policy::PolicyState;
use crate::root::{basename, join, paths, HostRoot};
use crate::table::{
    flag, text, Column, ColumnType, GenerateContext, QueryContext, Row, Table, TableOutput,
};
use crate::tables::remote_access_tools::RemoteAccessTools;

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
    process_names: BTreeSet<&'a str>,
    /// False where processes cannot be read from files (a macOS host or
    /// image has no /proc): `running` is then unknown, not false.
    processes_known: bool,
    /// dpkg and RPM packages by name.
    packages: BTreeMap<&'a str, &'a Package>,
    services: &'a [ServiceEntry],
    bundles: &'a [Bundle],
    now: i64,
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
                plist::Value::from_reader(std::io::Cursor::new(bytes))
                    .map(Some)
                    .map_err(|e| format!("{path} is not a valid property list: {e}"))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.to_string()),
        }
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
        process_names,
        processes_known: root.exists(paths::PROC_INIT),
        packages,
        services: host.services(),
        bundles,
        now: ctx.now,
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
    ])
}

// ---------------------------------------------------------------- EDR

/// One agent's state on this host; `None` when it is not there at all.
fn agent_check(facts: &Facts<'_>, agent: &Agent) -> Option<Check> {
    let ind: &AgentIndicators = match facts.platform {
        Platform::Linux => &agent.linux,
        Platform::MacOs => &agent.macos,
    };
    let mut evidence = Vec::new();
    let package = ind.packages.iter().find_map(|p| facts.package(p));
    let bundle = facts
        .bundles
        .iter()
        .find(|b| ind.bundle_ids.contains(&b.bundle_id));
    let path = ind.paths.iter().find(|p| facts.root.exists(p));
    let installed = package.is_some() || bundle.is_some() || path.is_some();
    if let Some(p) = package {
        evidence.push(format!(
            "{} package {} {}",
            p.source,
            p.name,
            p.version.as_deref().unwrap_or("")
        ));
    } else if let Some(b) = bundle {
        evidence.push(format!("app bundle {} ({})", b.path, b.bundle_id));
    } else if let Some(p) = path {
        evidence.push(format!("{p} exists"));
    }
    let running_name = facts.running_any(&ind.process_names);
    let running = running_name.map(|n| n.is_some());
    if !installed && running != Some(true) {
        return None;
    }
    match running_name {
        Some(Some(n)) => evidence.push(format!("process {n} running")),
        Some(None) if !ind.process_names.is_empty() => evidence.push(format!(
            "no {} process running",
            ind.process_names.join("/")
        )),
        None => evidence.push("processes are not readable from files on this platform".into()),
        Some(None) => {}
    }
    let units: Vec<&String> = ind.services.iter().chain(&ind.launchd).collect();
    let enabled = if units.is_empty() {
        None
    } else {
        let on = units.iter().find(|u| facts.unit_enabled(u));
        match on {
            Some(u) => evidence.push(format!("{u} enabled at boot")),
            None => evidence.push(format!(
                "{} not enabled at boot",
                units
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join("/")
            )),
        }
        Some(on.is_some())
    };
    // Health: the freshest of the status files the agent rewrites.
    let mut healthy = None;
    let mut freshest: Option<(i64, &str, u32)> = None;
    for sf in &ind.status_files {
        if let Some(m) = facts.mtime(&sf.path) {
            if freshest.is_none_or(|(t, _, _)| m > t) {
                freshest = Some((m, &sf.path, sf.max_age_hours));
            }
        }
    }
    if let Some((mtime, path, max_hours)) = freshest {
        let age_hours = (facts.now - mtime).max(0) / 3600;
        let fresh = facts.now - mtime <= i64::from(max_hours) * 3600;
        healthy = Some(fresh);
        evidence.push(format!(
            "{path} last updated {age_hours} h ago ({} the {max_hours} h limit)",
            if fresh { "within" } else { "past" }
        ));
    } else if !ind.status_files.is_empty() {
        evidence.push("no status file found to judge freshness".into());
    }
    let status = if installed
        && running != Some(false)
        && enabled != Some(false)
        && healthy != Some(false)
    {
        Status::Pass
    } else {
        Status::Degraded
    };
    let version = package
        .and_then(|p| p.version.clone())
        .or_else(|| bundle.and_then(|b| b.version.clone()));
    let mut check = Check::new(
        "edr_agent",
        status,
        format!("{}: {}", agent.name, evidence.join("; ")),
    )
    .states(Some(installed), running, enabled);
    check.product = Some(agent.id.clone());
    check.version = version;
    Some(check)
}

fn edr_checks(facts: &Facts<'_>, ctx: &GenerateContext<'_>) -> Vec<Check> {
    let agents = match AgentCatalog::embedded() {
        Ok(a) => a,
        Err(e) => return vec![Check::new("edr", Status::Unknown, e.to_string())],
    };
    let mut rows: Vec<Check> = agents
        .agents
        .iter()
        .filter_map(|a| agent_check(facts, a))
        .collect();
    let required = &ctx.policy.policy.edr_required_any;
    let counts = |c: &Check| {
        let id = c.product.as_deref().unwrap_or("");
        if required.is_empty() {
            agents.get(id).is_some_and(|a| a.kind.protects())
        } else {
            required.contains(id)
        }
    };
    let candidates: Vec<&Check> = rows.iter().filter(|c| counts(c)).collect();
    let wanted = if required.is_empty() {
        "an EDR or anti-malware agent".to_string()
    } else {
        format!(
            "one of {}",
            required.iter().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    // Say "required" only when the policy requires it (the `required`
    // column says the same).
    let is_required = ctx.policy.policy.required_controls.contains("edr") || !required.is_empty();
    let need = if is_required {
        format!("{wanted} is required")
    } else {
        format!("{wanted} is expected (the policy does not require one)")
    };
    let healthy: Vec<&str> = candidates
        .iter()
        .filter(|c| c.status == Status::Pass)
        .filter_map(|c| c.product.as_deref())
        .collect();
    let aggregate = if !healthy.is_empty() {
        Check::new(
            "edr",
            Status::Pass,
            format!("{wanted} is healthy: {}", healthy.join(", ")),
        )
        .states(Some(true), Some(true), Some(true))
    } else if !candidates.is_empty() {
        let broken: Vec<&str> = candidates
            .iter()
            .filter_map(|c| c.product.as_deref())
            .collect();
        Check::new(
            "edr",
            Status::Degraded,
            format!("{need}; found but not healthy: {}", broken.join(", ")),
        )
        .states(
            Some(true),
            Some(candidates.iter().any(|c| c.running == Some(true))),
            None,
        )
    } else {
        let others: Vec<&str> = rows.iter().filter_map(|c| c.product.as_deref()).collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(" (other agents present: {})", others.join(", "))
        };
        Check::new(
            "edr",
            Status::Fail,
            format!("{need} and none is installed{also}"),
        )
        .states(Some(false), Some(false), Some(false))
    };
    rows.insert(0, aggregate);
    rows
}

// ---------------------------------------------------------------- encryption

fn describe_crypt(crypt: &BlockCrypt) -> String {
    match crypt {
        BlockCrypt::Encrypted { mapping, uuid } => format!("dm-crypt mapping {mapping} ({uuid})"),
        BlockCrypt::Plain { device } => format!("{device}, which is not encrypted"),
        BlockCrypt::Unknown(why) => why.clone(),
    }
}

fn mounts(facts: &Facts<'_>) -> Result<Vec<config::MountInfo>, String> {
    facts
        .root
        .read_string_capped(paths::MOUNTINFO, 4 << 20)
        .map(|t| config::parse_mountinfo(&t))
        .map_err(|e| e.to_string())
}

/// The encryption of the block device behind a mount.
fn mount_crypt(facts: &Facts<'_>, m: &config::MountInfo) -> BlockCrypt {
    if m.major_minor.starts_with("0:") {
        return BlockCrypt::Unknown(format!(
            "{} is a {} filesystem from {}, not a block device (container, network or virtual filesystem)",
            m.mount_point, m.fs_type, m.source
        ));
    }
    match config::block_device_name(facts.root, &m.major_minor) {
        Some(dev) => config::block_crypt(facts.root, &dev),
        None => BlockCrypt::Unknown(format!(
            "no sysfs block device for {} ({})",
            m.source, m.major_minor
        )),
    }
}

fn crypttab_note(facts: &Facts<'_>) -> String {
    match facts.root.read_string_capped(paths::CRYPTTAB, 1 << 16) {
        Ok(t) => {
            let names: Vec<&str> = t
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_whitespace().next())
                .collect();
            if names.is_empty() {
                "; /etc/crypttab lists no devices".into()
            } else {
                format!("; /etc/crypttab lists {}", names.join(", "))
            }
        }
        Err(_) => "; no /etc/crypttab".into(),
    }
}

fn disk_encryption(facts: &Facts<'_>) -> Check {
    let mounts = match mounts(facts) {
        Ok(m) => m,
        Err(e) => return Check::new("disk_encryption", Status::Unknown, e),
    };
    let Some(root_mount) = mounts.iter().rev().find(|m| m.mount_point == "/") else {
        return Check::new(
            "disk_encryption",
            Status::Unknown,
            "no / entry in /proc/self/mountinfo",
        );
    };
    let crypt = mount_crypt(facts, root_mount);
    let status = match crypt {
        BlockCrypt::Encrypted { .. } => Status::Pass,
        BlockCrypt::Plain { .. } => Status::Fail,
        BlockCrypt::Unknown(_) => Status::Unknown,
    };
    let evidence = format!(
        "/ is {} on {}: {}{}",
        root_mount.fs_type,
        root_mount.source,
        describe_crypt(&crypt),
        crypttab_note(facts)
    );
    Check::new("disk_encryption", status, evidence).states(None, None, Some(status == Status::Pass))
}

fn swap_encryption(facts: &Facts<'_>) -> Check {
    let swaps = match facts.root.read_string_capped(paths::SWAPS, 1 << 16) {
        Ok(t) => config::parse_swaps(&t),
        Err(e) => return Check::new("swap_encryption", Status::Unknown, e.to_string()),
    };
    if swaps.is_empty() {
        return Check::new(
            "swap_encryption",
            Status::NotApplicable,
            "no swap in use (/proc/swaps is empty)",
        );
    }
    let mounts = mounts(facts).unwrap_or_default();
    let mut notes = Vec::new();
    let mut worst = Status::Pass;
    for (name, kind) in swaps {
        let crypt = if basename(&name).starts_with("zram") {
            notes.push(format!("{name} is compressed memory (zram)"));
            continue;
        } else if kind == "partition" {
            let dev = basename(&name).to_string();
            let dev = if name.starts_with("/dev/mapper/") {
                dm_by_name(facts.root, &dev).unwrap_or(dev)
            } else {
                dev
            };
            config::block_crypt(facts.root, &dev)
        } else {
            // A swap file: encrypted when the filesystem holding it is.
            match mounts
                .iter()
                .filter(|m| name.starts_with(&m.mount_point))
                .max_by_key(|m| m.mount_point.len())
            {
                Some(m) => mount_crypt(facts, m),
                None => BlockCrypt::Unknown(format!("no mount holds {name}")),
            }
        };
        let status = match crypt {
            BlockCrypt::Encrypted { .. } => Status::Pass,
            BlockCrypt::Plain { .. } => Status::Fail,
            BlockCrypt::Unknown(_) => Status::Unknown,
        };
        if status == Status::Fail || (status == Status::Unknown && worst == Status::Pass) {
            worst = status;
        }
        notes.push(format!("{kind} {name}: {}", describe_crypt(&crypt)));
    }
    Check::new("swap_encryption", worst, notes.join("; "))
}

/// The sysfs `dm-N` whose mapping is called `name`.
fn dm_by_name(root: &HostRoot, name: &str) -> Option<String> {
    root.list_dir(paths::SYS_BLOCK, 4096)
        .ok()?
        .into_iter()
        .filter(|d| d.starts_with("dm-"))
        .find(|d| {
            root.read_string_capped(&format!("{}/{d}/dm/name", paths::SYS_BLOCK), 4096)
                .is_ok_and(|n| n.trim() == name)
        })
}

// ---------------------------------------------------------------- firewall, updates

fn firewall(facts: &Facts<'_>) -> Check {
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

fn auto_updates(facts: &Facts<'_>) -> Check {
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

fn sysfs_text(facts: &Facts<'_>, path: &str) -> Result<Option<String>, String> {
    match facts.root.read_string_capped(path, 1 << 20) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn mac(facts: &Facts<'_>) -> Check {
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

fn secure_boot(facts: &Facts<'_>) -> Check {
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

fn kernel_lockdown(facts: &Facts<'_>) -> Check {
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
fn daemon(
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

fn audit_daemon(facts: &Facts<'_>) -> Check {
    daemon(
        facts,
        "audit_daemon",
        "auditd",
        &["auditd", "audit"],
        &["auditd.service"],
        &["auditd"],
    )
}

fn time_sync(facts: &Facts<'_>) -> Check {
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

// ---------------------------------------------------------------- ssh, screen lock

fn ssh(facts: &Facts<'_>, control: &'static str) -> Check {
    let sshd_running = facts.running("sshd");
    match facts.platform {
        Platform::MacOs => match macos_override_enabled(facts, paths::MACOS_SSHD_LABEL) {
            Ok(true) => {}
            Ok(false) => {
                return Check::new(control, Status::NotApplicable, "Remote Login (sshd) is off")
            }
            Err(e) => return Check::new(control, Status::Unknown, e),
        },
        Platform::Linux => {
            let installed = sshd_running
                || facts.package("openssh-server").is_some()
                || facts.root.exists(paths::SSHD_CONFIG);
            if !installed {
                return Check::new(control, Status::NotApplicable, "no SSH server is installed")
                    .states(Some(false), Some(false), None);
            }
        }
    }
    let trusted = |p: &str| facts.root.check_trusted(p);
    let config = match config::read_sshd_config(facts.root, &trusted) {
        Ok(c) => c,
        Err(e) => {
            return Check::new(
                control,
                Status::Unknown,
                format!("cannot tell the sshd settings: {e}"),
            )
            .states(Some(true), Some(sshd_running), None)
        }
    };
    let (key, default, good): (&str, &str, &[&str]) = if control == "ssh_root_login" {
        (
            "permitrootlogin",
            "prohibit-password",
            &[
                "no",
                "prohibit-password",
                "without-password",
                "forced-commands-only",
            ],
        )
    } else {
        ("passwordauthentication", "yes", &["no"])
    };
    let (value, origin) = match config.settings.get(key) {
        Some(v) => (v.to_ascii_lowercase(), "set"),
        None => (default.to_string(), "default"),
    };
    let mut status = if good.contains(&value.as_str()) {
        Status::Pass
    } else {
        Status::Fail
    };
    let mut evidence = format!(
        "{} is {value} ({origin}) in {}",
        if control == "ssh_root_login" {
            "PermitRootLogin"
        } else {
            "PasswordAuthentication"
        },
        config.files.join(", ")
    );
    if !config.problems.is_empty() {
        evidence.push_str(&format!("; problems: {}", config.problems.join("; ")));
        // A setting in a file that could not be trusted, read or parsed may
        // be the one sshd uses: postern cannot tell either way.
        status = Status::Unknown;
    }
    Check::new(control, status, evidence).states(Some(true), Some(sshd_running), None)
}

/// Parses `uint32 300` / `300` as seconds.
fn dconf_uint(value: &str) -> Option<u64> {
    value
        .trim()
        .trim_start_matches("uint32")
        .trim()
        .parse()
        .ok()
}

fn screen_lock(facts: &Facts<'_>) -> Check {
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

// ---------------------------------------------------------------- remote access

fn remote_access_checks(
    facts: &Facts<'_>,
    ctx: &GenerateContext<'_>,
    warnings: &mut Vec<String>,
) -> Vec<Check> {
    // The cheap evidence only: no file walk, sockets or USB here.
    let mut query = QueryContext::default();
    for kind in [
        "process",
        "package",
        "app_bundle",
        "service",
        "remote_desktop_enabled",
    ] {
        query.constraints.push(crate::table::Constraint {
            column: "evidence_type".into(),
            op: crate::table::Op::Equals,
            expr: kind.into(),
        });
    }
    let sub = GenerateContext {
        query: &query,
        ..*ctx
    };
    let out = RemoteAccessTools.generate(&sub);
    warnings.extend(out.warnings);
    let col = |row: &Row, name: &str| -> String {
        RemoteAccessTools
            .columns()
            .iter()
            .position(|c| c.name == name)
            .and_then(|i| row.get(i))
            .and_then(|v| v.clone())
            .unwrap_or_default()
    };
    let unapproved: Vec<&Row> = out
        .rows
        .iter()
        .filter(|r| col(r, "approved") == "0")
        .collect();
    let summarise = |rows: &[&Row]| -> String {
        let mut by_tool: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in rows {
            by_tool
                .entry(format!("{} ({})", col(r, "name"), col(r, "tool_id")))
                .or_default()
                .insert(col(r, "evidence_type"));
        }
        by_tool
            .into_iter()
            .map(|(t, kinds)| format!("{t}: {}", kinds.into_iter().collect::<Vec<_>>().join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut checks = Vec::new();
    let servers: Vec<&Row> = unapproved
        .iter()
        .copied()
        .filter(|r| matches!(col(r, "category").as_str(), "vnc_server" | "rdp_server"))
        .filter(|r| {
            matches!(
                col(r, "evidence_type").as_str(),
                "process" | "remote_desktop_enabled"
            )
        })
        .collect();
    checks.push(if servers.is_empty() {
        Check::new(
            "remote_desktop_services",
            Status::Pass,
            "no unapproved VNC or RDP server is running or enabled",
        )
        .states(None, Some(false), Some(false))
    } else {
        Check::new(
            "remote_desktop_services",
            Status::Fail,
            format!("unapproved remote desktop service: {}", summarise(&servers)),
        )
        .states(
            Some(true),
            Some(servers.iter().any(|r| col(r, "evidence_type") == "process")),
            Some(
                servers
                    .iter()
                    .any(|r| col(r, "evidence_type") == "remote_desktop_enabled"),
            ),
        )
    });
    checks.push(if unapproved.is_empty() {
        Check::new("unapproved_remote_access", Status::Pass, "no unapproved remote access tool is installed or running (processes, packages, bundles, services)")
            .states(Some(false), Some(false), None)
    } else {
        Check::new("unapproved_remote_access", Status::Fail, format!("unapproved: {}", summarise(&unapproved)))
            .states(Some(true), Some(unapproved.iter().any(|r| col(r, "evidence_type") == "process")), None)
    });
    if facts.platform == Platform::MacOs {
        let approved = |id: &str| ctx.policy.is_approved(id);
        checks.push(
            match macos_override_enabled(facts, paths::MACOS_SCREEN_SHARING_LABEL) {
                Ok(true) if approved(paths::MACOS_SCREEN_SHARING_TOOL) => Check::new(
                    "screen_sharing",
                    Status::Pass,
                    "Screen Sharing is on and approved by the policy",
                )
                .states(None, None, Some(true)),
                Ok(true) => Check::new(
                    "screen_sharing",
                    Status::Fail,
                    "Screen Sharing is on (com.apple.screensharing enabled in launchd overrides)",
                )
                .states(None, None, Some(true)),
                Ok(false) => Check::new("screen_sharing", Status::Pass, "Screen Sharing is off")
                    .states(None, None, Some(false)),
                Err(e) => Check::new("screen_sharing", Status::Unknown, e),
            },
        );
        let ard = facts.root.exists(paths::ARD_ENABLED_MARKER);
        checks.push(if !ard {
            Check::new(
                "remote_management",
                Status::Pass,
                "Remote Management is off (no RemoteManagement.launchd marker)",
            )
            .states(None, None, Some(false))
        } else if approved(paths::ARD_TOOL) {
            Check::new(
                "remote_management",
                Status::Pass,
                "Remote Management is on and approved by the policy",
            )
            .states(None, None, Some(true))
        } else {
            Check::new(
                "remote_management",
                Status::Fail,
                format!(
                    "Remote Management is on ({} exists)",
                    paths::ARD_ENABLED_MARKER
                ),
            )
            .states(None, None, Some(true))
        });
    }
    checks
}

// ---------------------------------------------------------------- osquery, postern

fn osquery(facts: &Facts<'_>) -> Check {
    let running = facts.processes_known.then(|| facts.running("osqueryd"));
    let db = facts.root.exists(paths::OSQUERY_DB);
    let installed = running == Some(true)
        || db
        || facts.package("osquery").is_some()
        || facts.root.exists(paths::OSQUERY_OPT);
    let status = match (installed, running, db) {
        (false, _, _) => Status::Fail,
        (true, Some(true) | None, true) => Status::Pass,
        _ => Status::Degraded,
    };
    let evidence = format!(
        "osqueryd {}; database {} {}",
        match running {
            Some(true) => "is running",
            Some(false) => "is not running",
            None => "process state unknown (no /proc)",
        },
        paths::OSQUERY_DB,
        if db { "exists" } else { "is missing" }
    );
    let mut c = Check::new("osquery", status, evidence).states(Some(installed), running, None);
    c.version = facts.package("osquery").and_then(|p| p.version.clone());
    c
}

fn postern_policy(ctx: &GenerateContext<'_>) -> Check {
    let p = ctx.policy;
    let (status, evidence) = match &p.state {
        PolicyState::Loaded => (Status::Pass, p.describe()),
        PolicyState::Missing => (Status::Fail, p.describe()),
        PolicyState::Invalid(_) | PolicyState::Refused(_) => (Status::Fail, p.describe()),
        PolicyState::Unreadable(_) => (Status::Unknown, p.describe()),
    };
    let mut c = Check::new("postern_policy", status, evidence).states(
        Some(!matches!(p.state, PolicyState::Missing)),
        None,
        None,
    );
    c.version = Some(env!("CARGO_PKG_VERSION").to_string());
    c
}

fn postern_baseline(ctx: &GenerateContext<'_>) -> Check {
    use crate::baseline::BaselineError;
    match ctx.state.load() {
        Ok(b) => Check::new(
            "postern_baseline",
            Status::Pass,
            format!(
                "baseline of {} items recorded at {}, digest {}",
                b.items.len(),
                b.created,
                b.digest
            ),
        )
        .states(Some(true), None, None),
        // Not a damaged baseline: postern cannot read it (run as a user,
        // say). Recording a new one would be the wrong advice.
        Err(e @ BaselineError::Io(_)) => {
            Check::new("postern_baseline", Status::Unknown, e.to_string()).fix(
                "Run postern as root (osquery runs extensions as root): the baseline is root's and others cannot read it; if root cannot either, check the state directory's permissions.",
            )
        }
        Err(e @ BaselineError::Untrusted(_)) => {
            Check::new("postern_baseline", Status::Fail, e.to_string())
                .fix("Find out who changed the baseline's owner or mode, then record a new one with postern baseline init --force.")
                .states(Some(false), None, None)
        }
        Err(e) => Check::new("postern_baseline", Status::Fail, e.to_string()).states(
            Some(false),
            None,
            None,
        ),
    }
}

// ---------------------------------------------------------------- macOS

/// Whether a launchd job is enabled according to the overrides database.
fn macos_override_enabled(facts: &Facts<'_>, label: &str) -> Result<bool, String> {
    match facts.plist(paths::LAUNCHD_OVERRIDES)? {
        None => Ok(false),
        Some(v) => Ok(v
            .as_dictionary()
            .and_then(|d| d.get(label))
            .and_then(|v| v.as_dictionary())
            .and_then(|d| d.get("Disabled"))
            .and_then(|v| v.as_boolean())
            == Some(false)),
    }
}

fn plist_get<'v>(v: &'v plist::Value, key: &str) -> Option<&'v plist::Value> {
    v.as_dictionary().and_then(|d| d.get(key))
}

fn macos_firewall(facts: &Facts<'_>) -> Check {
    match facts.plist(paths::ALF_PLIST) {
        Ok(Some(v)) => match plist_get(&v, "globalstate").and_then(|g| g.as_unsigned_integer()) {
            Some(s @ (1 | 2)) => Check::new(
                "macos_firewall",
                Status::Pass,
                format!("application firewall on (globalstate {s})"),
            )
            .states(None, None, Some(true)),
            Some(0) => Check::new(
                "macos_firewall",
                Status::Fail,
                "application firewall off (globalstate 0)",
            )
            .states(None, None, Some(false)),
            other => Check::new(
                "macos_firewall",
                Status::Unknown,
                format!("com.apple.alf globalstate is {other:?}"),
            ),
        },
        Ok(None) => Check::new(
            "macos_firewall",
            Status::Unknown,
            format!("{} is absent", paths::ALF_PLIST),
        ),
        Err(e) => Check::new("macos_firewall", Status::Unknown, e),
    }
}

fn gatekeeper(facts: &Facts<'_>) -> Check {
    match facts.plist(paths::GATEKEEPER_PLIST) {
        Ok(Some(v)) => match plist_get(&v, "enabled").and_then(|e| e.as_string()) {
            Some("yes") => Check::new("gatekeeper", Status::Pass, "Gatekeeper assessments enabled")
                .states(None, None, Some(true)),
            Some("no") => Check::new(
                "gatekeeper",
                Status::Fail,
                "Gatekeeper assessments disabled",
            )
            .states(None, None, Some(false)),
            other => Check::new(
                "gatekeeper",
                Status::Unknown,
                format!("SystemPolicy-prefs enabled is {other:?}"),
            ),
        },
        Ok(None) => Check::new(
            "gatekeeper",
            Status::Unknown,
            format!("{} is absent", paths::GATEKEEPER_PLIST),
        ),
        Err(e) => Check::new("gatekeeper", Status::Unknown, e),
    }
}

fn macos_auto_updates(facts: &Facts<'_>) -> Check {
    let managed = format!(
        "{}/com.apple.SoftwareUpdate.plist",
        paths::MANAGED_PREFERENCES
    );
    let mut values: BTreeMap<&str, bool> = BTreeMap::new();
    for path in [managed.as_str(), paths::SOFTWARE_UPDATE_PLIST] {
        match facts.plist(path) {
            Ok(Some(v)) => {
                for key in [
                    "AutomaticCheckEnabled",
                    "AutomaticDownload",
                    "CriticalUpdateInstall",
                ] {
                    if let Some(b) = plist_get(&v, key).and_then(|b| b.as_boolean()) {
                        values.entry(key).or_insert(b);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => return Check::new("macos_auto_updates", Status::Unknown, e),
        }
    }
    if values.is_empty() {
        return Check::new(
            "macos_auto_updates",
            Status::Unknown,
            "no Software Update preferences found",
        );
    }
    let desc: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let all = [
        "AutomaticCheckEnabled",
        "AutomaticDownload",
        "CriticalUpdateInstall",
    ]
    .iter()
    .all(|k| values.get(k) == Some(&true));
    let status = if all {
        Status::Pass
    } else if values.get("AutomaticCheckEnabled") == Some(&false) {
        Status::Fail
    } else {
        Status::Degraded
    };
    Check::new("macos_auto_updates", status, desc.join(", ")).states(None, None, Some(all))
}

fn remote_login(facts: &Facts<'_>) -> Check {
    match macos_override_enabled(facts, paths::MACOS_SSHD_LABEL) {
        Ok(true) => Check::new(
            "remote_login",
            Status::Fail,
            "Remote Login is on (com.openssh.sshd enabled in launchd overrides)",
        )
        .states(None, None, Some(true)),
        Ok(false) => Check::new("remote_login", Status::Pass, "Remote Login is off").states(
            None,
            None,
            Some(false),
        ),
        Err(e) => Check::new("remote_login", Status::Unknown, e),
    }
}

fn filevault(facts: &Facts<'_>) -> Check {
    if facts.root.exists(paths::FILEVAULT_PRK) {
        Check::new(
            "filevault",
            Status::Pass,
            format!(
                "{} exists: FileVault has been turned on",
                paths::FILEVAULT_PRK
            ),
        )
        .states(None, None, Some(true))
    } else {
        Check::new(
            "filevault",
            Status::Unknown,
            "no file on disk tells FileVault's state; use osquery's disk_encryption table",
        )
    }
}

fn mdm_enrollment(facts: &Facts<'_>) -> Check {
    if facts.root.exists(paths::MDM_CLOUD_CONFIG) {
        return Check::new(
            "mdm_enrollment",
            Status::Pass,
            "a cloud configuration (Automated Device Enrollment) profile is installed",
        )
        .states(Some(true), None, Some(true));
    }
    let managed = facts
        .root
        .list_dir(paths::MANAGED_PREFERENCES, 64)
        .unwrap_or_default();
    if !managed.is_empty() {
        return Check::new(
            "mdm_enrollment",
            Status::Pass,
            format!("managed preferences are installed ({})", managed.join(", ")),
        )
        .states(Some(true), None, Some(true));
    }
    Check::new(
        "mdm_enrollment",
        Status::Unknown,
        "no enrollment marker or managed preferences found; use osquery's mdm table",
    )
}
