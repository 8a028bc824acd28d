//! `remote_access_tools`: every remote access tool, RMM agent, VNC/RDP
//! server, tunnel and IP-KVM on the host, one row per piece of evidence.
//!
//! Evidence comes from the host collectors in [`crate::host`], matched
//! against the remote access catalog:
//! - `process`: a running process whose executable path, argv[0] or comm
//!   names a catalog tool (Linux `/proc`);
//! - `package`: dpkg, RPM (`rpmdb.sqlite`), snap and flatpak packages;
//! - `app_bundle`: macOS `.app` bundles by `CFBundleIdentifier`;
//! - `service`, `autostart`: systemd units, launchd jobs, XDG autostart;
//! - `remote_desktop_enabled`: a VNC/RDP server or built-in screen sharing
//!   enabled at boot;
//! - `listening_port`: a listening socket of a matched process, or on a
//!   tool's default port (with the owning pid where it can be found);
//! - `file`: a portable executable or installer in user-writable places
//!   (bounded walk), or a catalog install path that exists;
//! - `usb_device`: a USB device presenting an IP-KVM gadget identity
//!   (identities can be changed, so confidence is `medium`).
//!
//! `approved` comes from the policy. Platforms: Linux (all evidence); macOS
//! bundles, launchd jobs and files are read from files and work on any
//! root holding a macOS filesystem.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;

use crate::catalog::{self, Catalog, Category, ToolIndex};
use crate::host::snapshot::Snapshot;
use crate::host::walk::{executable_format, Incomplete, WalkLimits, Walker, SCAN_INCOMPLETE};
use crate::host::{bundles, config, identity, macho, processes, services, sockets, ssh, usb};
use crate::root::{join, paths, HostRoot};
use crate::table::{flag, text, Column, ColumnType, GenerateContext, Row, Table, TableOutput};

/// The `evidence_type` of a row for a process hidden by a mount over its
/// `/proc` entry.
pub const HIDDEN_PROCESS: &str = "hidden_process";
/// The bounded walk for portable executables: per area (each start
/// directory) a million names at most, and 2,000 files named like a tool
/// (each costs a stat and an 8-byte read).
pub const WALK_LIMITS: WalkLimits = WalkLimits {
    max_depth: 4,
    max_entries_per_area: 1_000_000,
    max_candidates_per_area: 2_000,
};
const MAGIC_LEN: u64 = 8;
const MAX_FDS_PER_PROCESS: usize = 65_536;

pub struct RemoteAccessTools;

const COLUMNS: &[Column] = &[
    Column::new("tool_id", ColumnType::Text, "Catalog identifier of the tool, as used in the policy's remote_access.approved list."),
    Column::new("name", ColumnType::Text, "Product name of the tool."),
    Column::new("vendor", ColumnType::Text, "Vendor or project that publishes the tool."),
    Column::new("category", ColumnType::Text, "One of remote_desktop, rmm, vnc_server, rdp_server, tunnel, mesh_vpn, remote_shell, ip_kvm."),
    Column::new("evidence_type", ColumnType::Text, "Kind of evidence: process, package, app_bundle, service, autostart, remote_desktop_enabled, listening_port, connection (to the port of the tool's relay servers), file, config (the tool's configuration or state in a home) or usb_device; scan_incomplete for a row (no tool) saying that the walk of path stopped early; hidden_process for a row (no tool) saying that a mount over /proc/pid hides that process."),
    Column::new("evidence", ColumnType::Text, "What was found, in a sentence a person can check on the host."),
    Column::new("path", ColumnType::Text, "Path of the executable, package database, bundle, unit or file behind the evidence."),
    Column::new("pid", ColumnType::BigInt, "Process ID for process and listening_port evidence, else empty."),
    Column::new("version", ColumnType::Text, "Version of the tool when the evidence tells it."),
    Column::new("port", ColumnType::Integer, "Local port for listening_port evidence."),
    Column::new("protocol", ColumnType::Text, "tcp or udp for listening_port evidence."),
    Column::new("user", ColumnType::Text, "Account that runs or owns the evidence, when known."),
    Column::new("uid", ColumnType::BigInt, "User ID that runs or owns the evidence, when known."),
    Column::new("approved", ColumnType::Integer, "1 if the policy approves this tool, else 0."),
    Column::new("severity", ColumnType::Text, "high, medium or low from the catalog for unapproved tools; info for approved ones."),
    Column::new("confidence", ColumnType::Text, "high when the evidence names the tool, medium for USB identities, files matched by name pattern and names matched only without case, version or suffix, low for a default port alone."),
];

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
struct Finding {
    tool: ToolIndex,
    evidence_type: &'static str,
    path: Option<String>,
    pid: Option<i64>,
    port: Option<u32>,
    protocol: Option<&'static str>,
    evidence: String,
    version: Option<String>,
    user: Option<String>,
    uid: Option<u32>,
    confidence: &'static str,
}

/// What the collectors see, gathered once per generate.
struct Scan<'a> {
    root: &'a HostRoot,
    catalog: &'a Catalog,
    host: &'a Snapshot<'a>,
    findings: Vec<Finding>,
    warnings: Vec<String>,
    incomplete: Vec<Incomplete>,
}

impl Scan<'_> {
    fn add(&mut self, tools: &[ToolIndex], finding: Finding) {
        for &tool in tools {
            self.findings.push(Finding {
                tool,
                ..finding.clone()
            });
        }
    }

    fn tool_name(&self, idx: ToolIndex) -> &str {
        self.catalog.tool(idx).map_or("", |t| t.name.as_str())
    }
}

impl Table for RemoteAccessTools {
    fn name(&self) -> &'static str {
        "remote_access_tools"
    }

    fn description(&self) -> &'static str {
        "Remote access tools, RMM agents, VNC/RDP servers, tunnels and IP-KVMs found on the host, one row per piece of evidence, with the policy's approval."
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["linux", "darwin"]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput {
        let mut scan = Scan {
            root: ctx.root,
            catalog: ctx.catalog,
            host: ctx.host,
            findings: Vec::new(),
            warnings: Vec::new(),
            incomplete: Vec::new(),
        };
        let pids = ctx.query.equals_i64("pid");
        let wanted = |kind: &str| {
            // A pinned pid only ever matches process and socket rows.
            let pid_ok = pids.is_none() || matches!(kind, "process" | "listening_port");
            pid_ok && ctx.query.admits("evidence_type", kind)
        };
        let mut matched_pids = BTreeMap::new();
        if wanted("process") || wanted("listening_port") || wanted("connection") {
            matched_pids = collect_processes(&mut scan, pids.as_ref(), ctx, wanted("process"));
        }
        if wanted("listening_port") {
            collect_listeners(&mut scan, &matched_pids, pids.is_some());
        }
        if wanted("connection") && pids.is_none() {
            collect_connections(&mut scan, &matched_pids);
        }
        if wanted("package") {
            collect_packages(&mut scan);
        }
        if wanted("app_bundle") {
            collect_bundles(&mut scan);
        }
        if wanted("service") || wanted("autostart") || wanted("remote_desktop_enabled") {
            collect_services(&mut scan);
        }
        if wanted("file") {
            collect_files(&mut scan, ctx);
            collect_carried_identity(&mut scan, ctx);
        }
        if wanted("config") {
            collect_home_state(&mut scan);
            collect_ssh_config(&mut scan);
        }
        if wanted("usb_device") {
            collect_usb(&mut scan);
        }
        let Scan {
            mut findings,
            warnings,
            incomplete,
            ..
        } = scan;
        findings.sort();
        findings.dedup();
        let mut rows: Vec<Row> = findings
            .into_iter()
            .filter(|f| ctx.query.admits("evidence_type", f.evidence_type))
            .filter_map(|f| to_row(f, ctx))
            .collect();
        // Rows about the host rather than a tool: a walk that stopped early
        // (so a fleet policy can tell "nothing found" from "not everything
        // looked at") and processes hidden by a mount over /proc/PID.
        if ctx.query.equals("tool_id").is_none() {
            let mut host_rows: Vec<NoToolRow> =
                incomplete.into_iter().map(scan_incomplete_row).collect();
            if ctx.query.admits("evidence_type", HIDDEN_PROCESS) {
                host_rows.extend(hidden_process_rows(ctx.root, pids.as_ref()));
            }
            rows.extend(
                host_rows
                    .into_iter()
                    .filter(|r| ctx.query.admits("evidence_type", r.evidence_type))
                    .map(NoToolRow::into_row),
            );
        }
        TableOutput { rows, warnings }
    }
}

/// A row that names no tool: something about the host itself (a walk cut
/// short, a hidden process). approved and confidence stay NULL, so queries
/// on unapproved tools (`approved = 0`) never count it.
struct NoToolRow {
    evidence_type: &'static str,
    evidence: String,
    path: String,
    pid: Option<i64>,
    severity: &'static str,
}

impl NoToolRow {
    fn into_row(self) -> Row {
        let mut row: Row = vec![None; COLUMNS.len()];
        for (column, value) in COLUMNS.iter().zip(row.iter_mut()) {
            *value = match column.name {
                "evidence_type" => text(self.evidence_type),
                "evidence" => text(self.evidence.clone()),
                "path" => text(self.path.clone()),
                "pid" => self.pid.map(|p| p.to_string()),
                "severity" => text(self.severity),
                _ => None,
            };
        }
        row
    }
}

/// The area of an [`Incomplete`] for executables left unsearched for
/// markers (the per-query read budget ran out).
const CONTENT_IDENTITY_AREA: &str = "content identity";

fn scan_incomplete_row(i: Incomplete) -> NoToolRow {
    let evidence = if i.area == CONTENT_IDENTITY_AREA {
        format!(
            "the search of executables for tools' markers stopped early: {}",
            i.reason
        )
    } else {
        format!(
            "the walk of {} for portable tools stopped early ({}): files beyond that point were not checked",
            i.area, i.reason
        )
    };
    NoToolRow {
        evidence_type: SCAN_INCOMPLETE,
        evidence,
        path: if i.area == CONTENT_IDENTITY_AREA {
            String::new()
        } else {
            i.area
        },
        pid: None,
        severity: "medium",
    }
}

/// Processes hidden from `ps` (and from osquery's `processes`) by a mount
/// over their `/proc` entry, as root can do with `mount --bind`.
fn hidden_process_rows(root: &HostRoot, pids: Option<&BTreeSet<i64>>) -> Vec<NoToolRow> {
    let Ok(text) = root.read_string_capped(paths::MOUNTINFO, 4 << 20) else {
        return Vec::new();
    };
    processes::hidden_by_mounts(&config::parse_mountinfo(&text))
        .into_iter()
        .filter(|(pid, _)| pids.is_none_or(|set| set.contains(pid)))
        .map(|(pid, mount)| NoToolRow {
            evidence_type: HIDDEN_PROCESS,
            evidence: if mount.mount_point == format!("/proc/{pid}") {
                format!(
                    "{} is mounted over (from {} {}): process {pid} is hidden from ps and from osquery's processes table",
                    mount.mount_point, mount.fs_type, mount.source
                )
            } else {
                format!(
                    "{} is mounted over (from {} {}): what ps and osquery show of process {pid} is not what runs",
                    mount.mount_point, mount.fs_type, mount.source
                )
            },
            path: mount.mount_point.clone(),
            pid: Some(pid),
            severity: "high",
        })
        .collect()
}

fn to_row(f: Finding, ctx: &GenerateContext<'_>) -> Option<Row> {
    let tool = ctx.catalog.tool(f.tool)?;
    if !ctx.query.admits("tool_id", &tool.id) {
        return None;
    }
    let approved = ctx.policy.is_approved(&tool.id);
    let severity = if approved {
        "info"
    } else {
        tool.severity.as_str()
    };
    Some(vec![
        text(&tool.id),
        text(&tool.name),
        text(&tool.vendor),
        text(tool.category.as_str()),
        text(f.evidence_type),
        text(f.evidence),
        f.path,
        f.pid.map(|p| p.to_string()),
        f.version,
        f.port.map(|p| p.to_string()),
        f.protocol.map(str::to_string),
        f.user,
        f.uid.map(|u| u.to_string()),
        flag(approved),
        text(severity),
        text(f.confidence),
    ])
}

/// Matches running processes; returns matched pid -> tools (for sockets).
fn collect_processes(
    scan: &mut Scan<'_>,
    pids: Option<&BTreeSet<i64>>,
    ctx: &GenerateContext<'_>,
    report: bool,
) -> BTreeMap<i64, Vec<ToolIndex>> {
    let mut matched = BTreeMap::new();
    let host = scan.host;
    // A query pinned to pids reads just those; otherwise the shared list.
    let pinned;
    let list: &[processes::Process] = match pids {
        Some(pids) => {
            pinned = processes::processes(scan.root, Some(pids), ctx.deadline);
            &pinned
        }
        None => host.processes(),
    };
    for process in list {
        let mut tools: Vec<ToolIndex> = Vec::new();
        let mut via = String::new();
        for name in process.names() {
            let hits = scan.catalog.by_process_name(name);
            if !hits.is_empty() {
                tools.extend(hits);
                via = name.to_string();
                break;
            }
        }
        // The executable names no tool: argv[0] (a renamed copy run under a
        // tool's name) or an interpreter's script might. The command line is
        // read once, for this and the normalised names below.
        let read_argv;
        let argv_unread = process.argv.is_empty();
        let argv: &[String] = if tools.is_empty() && argv_unread {
            read_argv = processes::read_argv(scan.root, process.pid);
            &read_argv
        } else {
            &process.argv
        };
        if tools.is_empty() && argv_unread {
            for name in processes::argv_names(process.exe.as_deref(), argv) {
                let hits = scan.catalog.by_process_name(name);
                if !hits.is_empty() {
                    tools.extend(hits);
                    via = name.to_string();
                    break;
                }
            }
        }
        // Names with a per-install part (an instance id in the name); still
        // nothing: the names without their disguises (case, version and
        // architecture suffixes, `.bin`, `memfd:`), weaker evidence.
        let mut normalised = false;
        if tools.is_empty() {
            let names: Vec<&str> = process
                .names()
                .into_iter()
                .chain(processes::argv_names(process.exe.as_deref(), argv))
                .collect();
            let by_pattern = |n: &str| scan.catalog.by_process_pattern(n);
            let by_normal = |n: &str| scan.catalog.by_normal_name(n).to_vec();
            if let Some((hits, name)) = first_hit(&names, by_pattern) {
                tools = hits;
                via = name.to_string();
            } else if let Some((hits, name)) = first_hit(&names, by_normal) {
                tools = hits;
                via = name.to_string();
                normalised = true;
            }
        }
        // An OpenSSH client holding a reverse forward: the far side reaches
        // this machine's services through it.
        let mut reverse = None;
        if tools.is_empty() && is_ssh_client(process, argv) {
            let mut found = ssh::reverse_forwards(argv);
            if found.forwards.is_empty() {
                // No -R: what its configuration asks for that host.
                if let Some(configured) = configured_reverse_forwards(scan, process.pid, argv) {
                    found = configured;
                }
            }
            if !found.forwards.is_empty() {
                if let Some(idx) = scan.catalog.index_of(paths::SSH_REVERSE_TUNNEL_TOOL) {
                    tools.push(idx);
                    reverse = Some(found);
                }
            }
        }
        // Still nothing, and the program runs from where people hide things
        // (a home, /tmp, /opt, memory): what its executable carries.
        let mut carries: Option<identity::Identity> = None;
        if tools.is_empty()
            && process
                .exe
                .as_deref()
                .is_some_and(|e| process.exe_deleted || !identity::packaged_place(e))
        {
            // postern itself (any instance: the same file) names every tool
            // in its catalog; it is checked before anything is read.
            let exe = scan.root.open_process_exe(process.pid).ok().filter(|f| {
                use std::os::unix::fs::MetadataExt;
                !crate::root::is_this_program(f)
                    && f.metadata().is_ok_and(|m| {
                        identity::worth_identifying(
                            process.exe.as_deref().unwrap_or(""),
                            process.exe_deleted,
                            m.uid(),
                            m.mode(),
                        )
                    })
            });
            if let Some(exe) = exe {
                match ctx.identity.identify(&exe, scan.catalog) {
                    Ok(found) if !found.tools.is_empty() => {
                        tools = found.tools.clone();
                        carries = Some(found);
                    }
                    Ok(_) => {}
                    Err(e) => log::debug!("pid {}: cannot read its executable: {e}", process.pid),
                }
            }
        }
        if tools.is_empty() {
            continue;
        }
        matched.insert(process.pid, tools.clone());
        if !report {
            continue;
        }
        let uid = processes::process_uid(scan.root, process.pid);
        let user = uid
            .and_then(|u| scan.host.accounts().name_of(u))
            .map(str::to_string);
        let path = process.path().map(str::to_string);
        if via.is_empty() {
            via = process
                .names()
                .first()
                .map_or_else(String::new, |n| n.to_string());
        }
        let mut evidence = format!(
            "process {via} (pid {}) running {}",
            process.pid,
            path.as_deref().unwrap_or("an unknown executable")
        );
        if process
            .exe
            .as_deref()
            .is_some_and(|e| e.starts_with("/memfd:"))
        {
            evidence.push_str(" (run from memory: a memfd, no file on disk)");
        } else if process.exe_deleted {
            evidence.push_str(" (executable deleted from disk)");
        }
        if normalised {
            evidence.push_str(&format!(
                " (named {via}: a tool's name with its case, version or suffix changed)"
            ));
        }
        if let Some(found) = &carries {
            evidence.push_str(&format!(
                " (its executable {}, whatever it is called)",
                identity_words(scan, found)
            ));
        }
        if let Some(found) = &reverse {
            let forwards: Vec<String> = found
                .forwards
                .iter()
                .map(|f| {
                    if f.starts_with("RemoteForward ") {
                        f.clone()
                    } else {
                        format!("-R {f}")
                    }
                })
                .collect();
            evidence.push_str(&format!(
                " (a reverse SSH tunnel, {}, to {}: whoever holds that end reaches this machine through it)",
                forwards.join(", "),
                found.destination.as_deref().unwrap_or("an unnamed host")
            ));
        }
        if let Some(u) = &user {
            evidence.push_str(&format!(" as {u}"));
        }
        scan.add(
            &tools,
            Finding {
                evidence_type: "process",
                path,
                pid: Some(process.pid),
                evidence,
                user,
                uid,
                confidence: if normalised { "medium" } else { "high" },
                ..Finding::default()
            },
        );
    }
    matched
}

/// The tools the first of `names` that `lookup` knows names, with that name.
fn first_hit<'n>(
    names: &[&'n str],
    lookup: impl Fn(&str) -> Vec<ToolIndex>,
) -> Option<(Vec<ToolIndex>, &'n str)> {
    names.iter().find_map(|name| {
        let hits = lookup(name);
        (!hits.is_empty()).then_some((hits, *name))
    })
}

/// An OpenSSH client, by its executable, argv[0] or kernel name.
fn is_ssh_client(process: &processes::Process, argv: &[String]) -> bool {
    let argv0 = argv.first().map(|a| crate::root::basename(a));
    process
        .names()
        .into_iter()
        .chain(argv0)
        .any(|name| name == "ssh")
}

fn collect_listeners(scan: &mut Scan<'_>, matched: &BTreeMap<i64, Vec<ToolIndex>>, pinned: bool) {
    let listeners = sockets::listeners(scan.root);
    if listeners.is_empty() {
        return;
    }
    // Sockets of matched processes.
    let mut owner: BTreeMap<u64, i64> = BTreeMap::new();
    for pid in matched.keys() {
        for inode in processes::socket_inodes(scan.root, *pid, MAX_FDS_PER_PROCESS) {
            owner.insert(inode, *pid);
        }
    }
    // Default ports held by something else: find the owner among all
    // processes, paying for the fd scan only when such a socket exists.
    let orphans: BTreeSet<u64> = listeners
        .iter()
        .filter(|l| !owner.contains_key(&l.inode))
        .filter(|l| !scan.catalog.by_port(l.port, l.protocol).is_empty())
        .map(|l| l.inode)
        .collect();
    if !orphans.is_empty() && !pinned {
        owner.extend(socket_owners(scan.root, &orphans));
    }
    for l in &listeners {
        let pid = owner.get(&l.inode).copied();
        let by_process: &[ToolIndex] = pid.and_then(|p| matched.get(&p)).map_or(&[], Vec::as_slice);
        let by_port = scan.catalog.by_port(l.port, l.protocol);
        let (tools, confidence): (Vec<ToolIndex>, &str) = if !by_process.is_empty() {
            (by_process.to_vec(), "high")
        } else if !by_port.is_empty() && !pinned && !l.is_loopback() {
            // A port alone is a hint, and only where other machines can
            // connect: a loopback listener on 7070 or 4040 is a developer's
            // server far more often than a remote access tool.
            (port_suspects(scan.catalog, by_port), "low")
        } else {
            continue;
        };
        let user = scan.host.accounts().name_of(l.uid).map(str::to_string);
        let holder = match (pid, confidence) {
            (Some(p), "high") => format!("held by pid {p}"),
            (Some(p), _) => {
                let name = processes::read_process(scan.root, p)
                    .and_then(|found| found.names().first().map(|n| n.to_string()))
                    .unwrap_or_else(|| "unknown".into());
                format!("held by pid {p} ({name}), not a catalog executable: the port alone suggests it")
            }
            (None, _) => "owner not found: the port alone suggests it".to_string(),
        };
        let names: Vec<&str> = tools.iter().map(|t| scan.tool_name(*t)).collect();
        let evidence = format!(
            "{} {}:{} listening for {} ({holder})",
            l.protocol,
            l.address,
            l.port,
            names.join(" or ")
        );
        scan.add(
            &tools,
            Finding {
                evidence_type: "listening_port",
                pid,
                port: Some(l.port),
                protocol: Some(l.protocol),
                evidence,
                user,
                uid: Some(l.uid),
                confidence,
                ..Finding::default()
            },
        );
    }
}

/// The processes holding some sockets: an fd scan of every process, paid
/// only when such sockets exist.
fn socket_owners(root: &HostRoot, inodes: &BTreeSet<u64>) -> BTreeMap<u64, i64> {
    let mut owner = BTreeMap::new();
    for pid in processes::list_pids(root, None) {
        for inode in processes::socket_inodes(root, pid, MAX_FDS_PER_PROCESS) {
            if inodes.contains(&inode) {
                owner.insert(inode, pid);
            }
        }
    }
    owner
}

/// Established connections to the port of a tool's relay or rendezvous
/// servers, from whatever process: the process is named, and only a
/// process already matched to that tool makes it more than a hint.
fn collect_connections(scan: &mut Scan<'_>, matched: &BTreeMap<i64, Vec<ToolIndex>>) {
    let connections: Vec<sockets::Connection> = sockets::established(scan.root)
        .into_iter()
        .filter(|c| !scan.catalog.by_relay_port(c.remote_port, "tcp").is_empty())
        .collect();
    if connections.is_empty() {
        return;
    }
    let inodes: BTreeSet<u64> = connections.iter().map(|c| c.inode).collect();
    let owner = socket_owners(scan.root, &inodes);
    for c in connections {
        let tools = scan.catalog.by_relay_port(c.remote_port, "tcp").to_vec();
        let pid = owner.get(&c.inode).copied();
        let confirmed = pid
            .and_then(|p| matched.get(&p))
            .is_some_and(|m| m.iter().any(|t| tools.contains(t)));
        let from = match pid {
            Some(p) => {
                let name = processes::read_process(scan.root, p)
                    .and_then(|found| found.names().first().map(|n| n.to_string()))
                    .unwrap_or_else(|| "unknown".into());
                format!("from pid {p} ({name})")
            }
            None => "from a process not found".to_string(),
        };
        let names: Vec<&str> = tools.iter().map(|t| scan.tool_name(*t)).collect();
        scan.add(
            &tools,
            Finding {
                evidence_type: "connection",
                pid,
                port: Some(c.remote_port),
                protocol: Some("tcp"),
                evidence: format!(
                    "tcp connection to {}:{}, the port of {}'s relay servers, {from}",
                    c.remote_address,
                    c.remote_port,
                    names.join(" or ")
                ),
                user: scan.host.accounts().name_of(c.uid).map(str::to_string),
                uid: Some(c.uid),
                confidence: if confirmed { "high" } else { "low" },
                ..Finding::default()
            },
        );
    }
}

/// Tools to blame for a default port when no catalog process holds it: the
/// one tool using that port, else the catalog's generic entry for the
/// protocol (rather than every tool that shares the port), else all of them.
fn port_suspects(catalog: &Catalog, by_port: &[ToolIndex]) -> Vec<ToolIndex> {
    let specific: Vec<ToolIndex> = by_port
        .iter()
        .copied()
        .filter(|t| catalog.tool(*t).is_some_and(|t| !t.generic))
        .collect();
    if specific.len() == 1 {
        return specific;
    }
    let generic: Vec<ToolIndex> = by_port
        .iter()
        .copied()
        .filter(|t| catalog.tool(*t).is_some_and(|t| t.generic))
        .collect();
    if generic.is_empty() {
        by_port.to_vec()
    } else {
        generic
    }
}

fn collect_packages(scan: &mut Scan<'_>) {
    let all = scan.host.packages();
    for pkg in all {
        let tools = scan.catalog.by_package(&pkg.name).to_vec();
        if tools.is_empty() {
            continue;
        }
        let evidence = format!(
            "{} package {} {} installed",
            pkg.source,
            pkg.name,
            pkg.version.as_deref().unwrap_or("(version unknown)")
        );
        scan.add(
            &tools,
            Finding {
                evidence_type: "package",
                path: Some(pkg.path.clone()),
                version: pkg.version.clone(),
                evidence,
                user: pkg.user.clone(),
                confidence: "high",
                ..Finding::default()
            },
        );
    }
}

fn collect_bundles(scan: &mut Scan<'_>) {
    let found = scan.host.bundles();
    for b in found {
        let mut tools = scan.catalog.by_bundle_id(&b.bundle_id).to_vec();
        let mut confidence = "high";
        let mut evidence = format!(
            "app bundle {} ({}) version {}",
            b.path,
            b.bundle_id,
            b.version.as_deref().unwrap_or("unknown")
        );
        if tools.is_empty() {
            // A bundle whose Info.plist names nothing known: its executable's
            // code signature, which cannot be edited without breaking it.
            let Some((signature, by)) = bundle_signature(scan, b) else {
                continue;
            };
            tools = by;
            let team = signature.team_id.as_deref().unwrap_or("none");
            match signature.identifier.as_deref() {
                Some(id) if !scan.catalog.by_bundle_id(id).is_empty() => {
                    evidence.push_str(&format!(
                        ", whose executable is signed as {id} (team {team}): a known tool under another bundle id"
                    ));
                }
                _ => {
                    confidence = "medium";
                    evidence.push_str(&format!(
                        ", whose executable is signed by team {team}, the vendor's Apple Developer Team"
                    ));
                }
            }
        }
        scan.add(
            &tools,
            Finding {
                evidence_type: "app_bundle",
                path: Some(b.path.clone()),
                version: b.version.clone(),
                evidence,
                user: b.user.clone(),
                confidence,
                ..Finding::default()
            },
        );
    }
}

/// The code signature of a bundle's main executable and the tools it names:
/// by its signing identifier (a catalog bundle id), else by its team.
fn bundle_signature(
    scan: &Scan<'_>,
    bundle: &bundles::Bundle,
) -> Option<(macho::Signature, Vec<ToolIndex>)> {
    let executable = bundle.executable.as_deref()?;
    let signature = bundles::signature(scan.root, &bundle.path, Some(executable))?;
    let tools = scan.catalog.by_signature(&signature);
    (!tools.is_empty()).then_some((signature, tools))
}

fn is_server_category(category: Category) -> bool {
    matches!(category, Category::VncServer | Category::RdpServer)
}

fn collect_services(scan: &mut Scan<'_>) {
    let host = scan.host;
    for entry in host.services() {
        let mut tools = scan.catalog.by_service(&entry.name);
        if tools.is_empty() {
            if let Some(template) = services::template_of(&entry.name) {
                tools = scan.catalog.by_service(&template);
            }
        }
        if tools.is_empty() && entry.kind == "sysv" {
            // systemd runs an init script as the unit of the same name.
            tools = scan.catalog.by_service(&format!("{}.service", entry.name));
        }
        if tools.is_empty() {
            if let Some(program) = &entry.program {
                tools = scan.catalog.by_process_name(program).to_vec();
                if tools.is_empty() {
                    tools = scan.catalog.by_normal_name(program).to_vec();
                }
            }
        }
        if tools.is_empty() {
            continue;
        }
        let enabled = entry.enabled == Some(true);
        let state = match entry.enabled {
            Some(true) => "enabled",
            Some(false) if matches!(entry.kind, "systemd" | "systemd_user" | "sysv") => {
                "installed, not enabled"
            }
            Some(false) => "disabled",
            None => "state unknown",
        };
        let is_autostart = matches!(entry.kind, "xdg_autostart" | "cron_reboot");
        let label = match entry.kind {
            "systemd" => "systemd unit",
            "systemd_user" => "systemd user unit",
            "sysv" => "SysV init script",
            "cron_reboot" => "crontab entry",
            "xdg_autostart" => "XDG autostart entry",
            _ => "launchd job",
        };
        let mut evidence = format!("{label} {} at {} ({state})", entry.name, entry.path);
        if let (Some(target), Some(program)) = (&entry.activates, &entry.program) {
            evidence.push_str(&format!(", which starts {target} running {program}"));
        }
        let finding = Finding {
            evidence_type: if is_autostart { "autostart" } else { "service" },
            path: Some(entry.path.clone()),
            evidence: evidence.clone(),
            user: entry.user.clone(),
            confidence: "high",
            ..Finding::default()
        };
        scan.add(&tools, finding.clone());
        let servers: Vec<ToolIndex> = tools
            .iter()
            .copied()
            .filter(|t| {
                scan.catalog
                    .tool(*t)
                    .is_some_and(|t| is_server_category(t.category))
            })
            .collect();
        if enabled && !is_autostart && !servers.is_empty() {
            scan.add(
                &servers,
                Finding {
                    evidence_type: "remote_desktop_enabled",
                    evidence: format!(
                        "remote desktop server enabled at {}: {evidence}",
                        if matches!(entry.kind, "systemd" | "sysv") {
                            "boot"
                        } else {
                            "login"
                        }
                    ),
                    ..finding
                },
            );
        }
    }
    collect_macos_sharing(scan);
}

/// macOS Screen Sharing and Remote Management, enabled through launchd
/// overrides and the ARD agent's marker file.
fn collect_macos_sharing(scan: &mut Scan<'_>) {
    let overrides = paths::LAUNCHD_OVERRIDES;
    if let Ok(bytes) = scan.root.read_capped(overrides, 1 << 20) {
        match crate::host::plists::parse(&bytes) {
            Ok(value) => {
                let label = paths::MACOS_SCREEN_SHARING_LABEL;
                let disabled = value
                    .as_dictionary()
                    .and_then(|d| d.get(label))
                    .and_then(|v| v.as_dictionary())
                    .and_then(|d| d.get("Disabled"))
                    .and_then(|v| v.as_boolean());
                if disabled == Some(false) {
                    let tools: Vec<ToolIndex> = scan
                        .catalog
                        .index_of(paths::MACOS_SCREEN_SHARING_TOOL)
                        .into_iter()
                        .collect();
                    scan.add(
                        &tools,
                        Finding {
                            evidence_type: "remote_desktop_enabled",
                            path: Some(overrides.to_string()),
                            evidence: format!("{label} enabled in launchd overrides"),
                            confidence: "high",
                            ..Finding::default()
                        },
                    );
                }
            }
            Err(e) => scan.warnings.push(format!("{overrides}: {e}")),
        }
    }
    if scan.root.exists(paths::ARD_ENABLED_MARKER) {
        let tools: Vec<ToolIndex> = scan.catalog.index_of(paths::ARD_TOOL).into_iter().collect();
        scan.add(
            &tools,
            Finding {
                evidence_type: "remote_desktop_enabled",
                path: Some(paths::ARD_ENABLED_MARKER.to_string()),
                evidence: "Apple Remote Management is turned on (its launchd marker file exists)"
                    .into(),
                confidence: "high",
                ..Finding::default()
            },
        );
    }
}

/// Configuration and state a tool leaves in a home (`~/.anydesk`,
/// `~/.config/rustdesk`): it stays when the binary is renamed or deleted,
/// and says which user ran the tool.
fn collect_home_state(scan: &mut Scan<'_>) {
    let homes = &scan.host.accounts().homes;
    let mut found = Vec::new();
    for (idx, tool) in scan.catalog.tools.iter().enumerate() {
        for rel in tool.linux.home_paths.iter().chain(&tool.macos.home_paths) {
            for (home, owner) in homes {
                let path = join(home, rel);
                // The entry itself: a link a user planted is not followed.
                let Ok(meta) = scan.root.symlink_metadata(&path) else {
                    continue;
                };
                let kind = if meta.is_dir() { "directory" } else { "file" };
                found.push((
                    idx,
                    path,
                    owner.clone(),
                    std::os::unix::fs::MetadataExt::uid(&meta),
                    kind,
                ));
            }
        }
    }
    for (idx, path, owner, uid, kind) in found {
        // The home's owner ran the tool, whoever owns the file now.
        let user = owner.or_else(|| scan.host.accounts().name_of(uid).map(str::to_string));
        let evidence = format!(
            "{kind} {path}, where {} keeps its configuration or state, exists{}",
            scan.tool_name(idx),
            user.as_deref()
                .map(|u| format!(" in {u}'s home"))
                .unwrap_or_default()
        );
        scan.add(
            &[idx],
            Finding {
                evidence_type: "config",
                path: Some(path),
                evidence,
                user,
                uid: Some(uid),
                confidence: "medium",
                ..Finding::default()
            },
        );
    }
}

/// Most ssh_config drop-ins read from `/etc/ssh/ssh_config.d`, and most
/// files one configuration pulls in through `Include`, how deep.
const MAX_SSH_DROP_INS: usize = 256;
const MAX_SSH_INCLUDED: usize = 256;
const MAX_SSH_INCLUDE_DEPTH: usize = 4;
const SSH_CONFIG_CAP: u64 = 16 << 20;

/// A `RemoteForward` found in an ssh configuration.
struct ConfiguredForward {
    /// The file it is written in (the top file or one it includes).
    file: String,
    block: Option<String>,
    spec: String,
}

/// The `RemoteForward` settings of an ssh configuration file and of what it
/// includes (`Include`, with `~` and patterns in the last component; a
/// relative path is relative to `base`, `~/.ssh` for a user's files and
/// `/etc/ssh` for the system's, as `ssh_config(5)` says). Files are
/// streamed, so padding one does not hide a line past a cap.
fn ssh_config_forwards(
    scan: &mut Scan<'_>,
    top: &str,
    home: Option<&str>,
    base: &str,
) -> Vec<ConfiguredForward> {
    let mut found = Vec::new();
    // In the order ssh reads them: a file's includes after it, in order.
    let mut queue = std::collections::VecDeque::from([(top.to_string(), 0usize)]);
    let mut read = 0usize;
    while let Some((path, depth)) = queue.pop_front() {
        read += 1;
        if read > MAX_SSH_INCLUDED {
            scan.warnings.push(format!(
                "{top}: more than {MAX_SSH_INCLUDED} included ssh configuration files; the rest were not read"
            ));
            break;
        }
        let Ok(file) = scan.root.open(&path) else {
            continue;
        };
        let mut reader = std::io::BufReader::new(file.take(SSH_CONFIG_CAP));
        let lines = std::iter::from_fn(|| {
            let mut line = Vec::new();
            match std::io::BufRead::read_until(&mut reader, b'\n', &mut line) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(String::from_utf8_lossy(&line).into_owned()),
            }
        });
        let config = ssh::scan_config(lines);
        if reader.get_ref().limit() == 0 {
            scan.warnings.push(format!(
                "{path}: only the first {} MiB of this ssh configuration were read",
                SSH_CONFIG_CAP >> 20
            ));
        }
        found.extend(
            config
                .forwards
                .into_iter()
                .map(|(block, spec)| ConfiguredForward {
                    file: path.clone(),
                    block,
                    spec,
                }),
        );
        if depth >= MAX_SSH_INCLUDE_DEPTH {
            continue;
        }
        for include in config.includes {
            let absolute = match (include.strip_prefix("~/"), home) {
                (Some(rest), Some(home)) => join(home, rest),
                (Some(_), None) => continue,
                (None, _) if include.starts_with('/') => include.clone(),
                (None, _) => join(base, &include),
            };
            let (dir, last) = match absolute.rsplit_once('/') {
                Some((d, l)) => (if d.is_empty() { "/" } else { d }, l),
                None => continue,
            };
            if catalog::is_pattern(last) {
                let Ok(pattern) = glob::Pattern::new(last) else {
                    continue;
                };
                let mut names = scan
                    .root
                    .list_dir(dir, MAX_SSH_DROP_INS)
                    .unwrap_or_default();
                names.sort();
                queue.extend(
                    names
                        .iter()
                        .filter(|n| pattern.matches(n))
                        .map(|n| (join(dir, n), depth + 1)),
                );
            } else {
                queue.push_back((absolute, depth + 1));
            }
        }
    }
    found
}

/// `RemoteForward` in an ssh client configuration: every `ssh` to the host
/// it names opens a reverse tunnel, without `-R` on its command line.
fn collect_ssh_config(scan: &mut Scan<'_>) {
    let Some(idx) = scan.catalog.index_of(paths::SSH_REVERSE_TUNNEL_TOOL) else {
        return;
    };
    let mut tops: Vec<(String, Option<String>, Option<String>, &str)> = vec![(
        paths::SSH_CLIENT_CONFIG.to_string(),
        None,
        None,
        paths::SSH_DIR,
    )];
    if let Ok(mut names) = scan
        .root
        .list_dir(paths::SSH_CLIENT_CONFIG_D, MAX_SSH_DROP_INS)
    {
        names.sort();
        tops.extend(names.iter().filter(|n| n.ends_with(".conf")).map(|n| {
            (
                join(paths::SSH_CLIENT_CONFIG_D, n),
                None,
                None,
                paths::SSH_DIR,
            )
        }));
    }
    let homes = scan.host.accounts().homes.clone();
    let mut user_tops = Vec::new();
    for (home, owner) in &homes {
        user_tops.push((
            join(home, paths::HOME_SSH_CONFIG),
            owner.clone(),
            Some(home.clone()),
            join(home, ".ssh"),
        ));
    }
    let mut all: Vec<(String, Option<String>, Option<String>, String)> = tops
        .into_iter()
        .map(|(p, o, h, b)| (p, o, h, b.to_string()))
        .collect();
    all.extend(user_tops);
    for (path, owner, home, base) in all {
        let forwards = ssh_config_forwards(scan, &path, home.as_deref(), &base);
        if forwards.is_empty() {
            continue;
        }
        let listed: Vec<String> = forwards
            .iter()
            .map(|f| {
                let mut text = format!("RemoteForward {}", f.spec);
                if let Some(b) = &f.block {
                    text.push_str(&format!(" (under {b})"));
                }
                if f.file != path {
                    text.push_str(&format!(" in {}", f.file));
                }
                text
            })
            .collect();
        let uid = scan
            .root
            .symlink_metadata(&path)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        scan.add(
            &[idx],
            Finding {
                evidence_type: "config",
                evidence: format!(
                    "ssh client configuration {path} asks for reverse tunnels: {}",
                    listed.join("; ")
                ),
                path: Some(path),
                user: owner,
                uid,
                confidence: "medium",
                ..Finding::default()
            },
        );
    }
}

/// The reverse forwards an ssh process gets from its configuration (the
/// `-F` file, else its user's `~/.ssh/config` and the system's) for the
/// host it connects to: `ssh jump` with `RemoteForward` under `Host jump`
/// holds a reverse tunnel without `-R` on its command line.
fn configured_reverse_forwards(
    scan: &mut Scan<'_>,
    pid: i64,
    argv: &[String],
) -> Option<ssh::ReverseForwards> {
    let destination = ssh::reverse_forwards(argv).destination?;
    let home = processes::process_uid(scan.root, pid)
        .and_then(|uid| scan.host.accounts().name_of(uid).map(str::to_string))
        .and_then(|name| {
            scan.host
                .accounts()
                .homes
                .iter()
                .find(|(_, owner)| owner.as_deref() == Some(name.as_str()))
                .map(|(home, _)| home.clone())
        });
    let mut forwards = Vec::new();
    match ssh::config_file(argv) {
        // A relative -F names a file in the process's working directory,
        // which is not followed here.
        Some(file) if file.starts_with('/') => {
            let base = file.rsplit_once('/').map_or("/", |(d, _)| d).to_string();
            forwards.extend(ssh_config_forwards(scan, &file, home.as_deref(), &base));
        }
        Some(_) => {}
        None => {
            if let Some(home) = &home {
                let user = join(home, paths::HOME_SSH_CONFIG);
                let base = join(home, ".ssh");
                forwards.extend(ssh_config_forwards(scan, &user, Some(home), &base));
            }
            forwards.extend(ssh_config_forwards(
                scan,
                paths::SSH_CLIENT_CONFIG,
                home.as_deref(),
                paths::SSH_DIR,
            ));
        }
    }
    let specs: Vec<String> = forwards
        .into_iter()
        .filter(|f| ssh::block_applies(f.block.as_deref(), &destination))
        .map(|f| format!("RemoteForward {} in {}", f.spec, f.file))
        .collect();
    (!specs.is_empty()).then_some(ssh::ReverseForwards {
        forwards: specs,
        destination: Some(destination),
    })
}

fn collect_files(scan: &mut Scan<'_>, ctx: &GenerateContext<'_>) {
    // Install paths named by the catalog; a pattern (a per-install id in a
    // directory name) lists its parent directory.
    for (idx, tool) in scan.catalog.tools.iter().enumerate() {
        for path in tool.linux.paths.iter().chain(&tool.macos.paths) {
            let found = if catalog::is_pattern(path) {
                expand_install_path(scan.root, path)
            } else if scan.root.exists(path) {
                vec![path.clone()]
            } else {
                Vec::new()
            };
            for path in found {
                scan.findings.push(Finding {
                    tool: idx,
                    evidence_type: "file",
                    evidence: format!("install path {path} exists"),
                    path: Some(path),
                    confidence: "high",
                    ..Finding::default()
                });
            }
        }
    }
    // Portable binaries and installers in user-writable places.
    let mut starts: Vec<(String, Option<String>)> = paths::WRITABLE_EXEC_DIRS
        .iter()
        .map(|d| (d.to_string(), None))
        .collect();
    for (home, owner) in &scan.host.accounts().homes {
        for sub in paths::HOME_EXEC_DIRS {
            starts.push((join(home, sub), owner.clone()));
        }
    }
    let root = scan.root;
    let catalog = scan.catalog;
    let mut hits = Vec::new();
    let mut walker = Walker::new(root, WALK_LIMITS, ctx.deadline);
    for (dir, owner) in &starts {
        // Names are matched before any metadata is read.
        let wanted = |name: &str| !catalog.by_file_name(name).is_empty();
        walker.walk_named(dir, &wanted, &mut |file| {
            // Executables inside app bundles are reported with the bundle.
            if file.path.contains(".app/") {
                return;
            }
            let tools = catalog.by_file_name(&file.name);
            hits.push((file, tools, owner.clone()));
        });
    }
    scan.incomplete.append(&mut walker.incomplete);
    for (file, tools, owner) in hits {
        let user = scan
            .host
            .accounts()
            .name_of(file.uid)
            .map(str::to_string)
            .or(owner);
        if file.is_link {
            // A command installed as a link (npm, pipx): the name is the
            // evidence; the target is shown, never opened.
            let target = root.read_link(&file.path).unwrap_or_default();
            scan.add(
                &tools,
                Finding {
                    evidence_type: "file",
                    evidence: format!("link {} to {target}", file.path),
                    path: Some(file.path),
                    user,
                    uid: Some(file.uid),
                    confidence: "medium",
                    ..Finding::default()
                },
            );
            continue;
        }
        let magic = root.read_prefix(&file.path, MAGIC_LEN).unwrap_or_default();
        let format = executable_format(&magic);
        let exec_bit = std::fs::Permissions::from_mode(file.mode).mode() & 0o111 != 0;
        let exact = !catalog.by_process_name(&file.name).is_empty();
        let what = match (format, exec_bit) {
            (Some(f), true) => format!("executable {f} file"),
            (Some(f), false) => format!("{f} file (not marked executable)"),
            (None, _) => "installer or archive".to_string(),
        };
        scan.add(
            &tools,
            Finding {
                evidence_type: "file",
                evidence: format!("{what} {} ({} bytes)", file.path, file.size),
                path: Some(file.path),
                user,
                uid: Some(file.uid),
                confidence: if exact && format.is_some() {
                    "high"
                } else {
                    "medium"
                },
                ..Finding::default()
            },
        );
    }
}

/// Most names listed from one directory, and most paths one pattern yields.
const PATTERN_DIR_CAP: usize = 10_000;
const PATTERN_MATCH_CAP: usize = 64;

/// The existing paths an install path pattern names: each pattern
/// component lists its directory (at most [`PATTERN_DIR_CAP`] names) and
/// keeps the names it matches, in order; at most [`PATTERN_MATCH_CAP`]
/// paths. Links are not followed out of the root (every lookup goes
/// through it).
fn expand_install_path(root: &HostRoot, pattern: &str) -> Vec<String> {
    let mut found = vec![String::new()];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for dir in &found {
            let dir = if dir.is_empty() { "/" } else { dir.as_str() };
            if !catalog::is_pattern(component) {
                next.push(join(dir, component));
                continue;
            }
            let Ok(glob) = glob::Pattern::new(component) else {
                return Vec::new();
            };
            let Ok(mut names) = root.list_dir(dir, PATTERN_DIR_CAP) else {
                continue;
            };
            names.sort();
            next.extend(
                names
                    .iter()
                    .filter(|n| glob.matches(n))
                    .map(|n| join(dir, n)),
            );
        }
        next.truncate(PATTERN_MATCH_CAP);
        found = next;
    }
    found.retain(|p| !p.is_empty() && root.exists(p));
    found
}

/// How an executable's content names its tools, for evidence: "carries
/// bore's built-in markers", or "is from the rpm package tigervnc-server
/// 1.13.1 (its ELF package note)".
fn identity_words(scan: &Scan<'_>, found: &identity::Identity) -> String {
    if let Some(note) = &found.package {
        let version = note
            .version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default();
        return format!(
            "is from the {} package {}{version} (its ELF package note)",
            if note.kind.is_empty() {
                "unknown"
            } else {
                &note.kind
            },
            note.name
        );
    }
    let names: Vec<&str> = found.tools.iter().map(|t| scan.tool_name(*t)).collect();
    if let Some(entry) = &found.desktop {
        return format!(
            "is an AppImage whose embedded desktop entry {} names {} (Name={}, Exec={})",
            entry.file,
            names.join(" and "),
            entry.name.as_deref().unwrap_or(""),
            entry.exec.as_deref().unwrap_or("")
        );
    }
    format!("carries {}'s built-in markers", names.join(" and "))
}

/// Bytes of executables at rest read per generate for their markers when
/// the identity cache does not know them yet (a long-running extension
/// reads each file version once; a cold CLI run stops here).
const AT_REST_SCAN_BUDGET: u64 = 128 << 20;

/// Executables in user places whose names say nothing, and which do not
/// run: what they carry (a renamed tool waiting to be started). Like
/// running programs, only files a user could have put there: in a home or
/// a temporary directory, owned by a user other than root, or writable by
/// others.
fn collect_carried_identity(scan: &mut Scan<'_>, ctx: &GenerateContext<'_>) {
    if scan.catalog.binary_markers().is_none() {
        return;
    }
    let mut incomplete = Vec::new();
    let found = crate::inventory::portable(scan.host, ctx.deadline, ctx.identity, &mut incomplete);
    for i in incomplete {
        if !scan.incomplete.iter().any(|known| known.area == i.area) {
            scan.incomplete.push(i);
        }
    }
    // The likeliest first, while the budget lasts: files a user (not root)
    // owns or can write, then smaller before larger.
    // (Metadata only: thousands of files are never held open at once.)
    let mut candidates: Vec<(bool, u64, crate::inventory::Software)> = found
        .into_iter()
        .filter(|sw| scan.catalog.by_file_name(&sw.name).is_empty()) // reported by name
        .filter_map(|sw| {
            let path = sw.path.as_deref()?;
            let meta = scan.root.metadata(path).ok()?;
            use std::os::unix::fs::MetadataExt;
            // As for running programs: what a user could have put there
            // (root's own files in /opt or /usr/local/bin are not read).
            if !identity::worth_identifying(path, false, meta.uid(), meta.mode()) {
                return None;
            }
            let trusted = meta.uid() == 0 && meta.mode() & 0o022 == 0;
            Some((trusted, meta.len(), sw))
        })
        .collect();
    candidates.sort_by_key(|(trusted, size, sw)| (*trusted, *size, sw.path.clone()));
    let mut budget = AT_REST_SCAN_BUDGET;
    let mut unread = 0usize;
    for (_, size, sw) in candidates {
        let Some(path) = sw.path else {
            continue;
        };
        let Ok(file) = scan.root.open(&path) else {
            continue;
        };
        if crate::root::is_this_program(&file) {
            continue;
        }
        let found = match ctx
            .identity
            .identify_within(&file, scan.catalog, &mut budget)
        {
            Ok(Some(found)) => found,
            Ok(None) => {
                unread += 1;
                continue;
            }
            Err(e) => {
                log::debug!("{path}: {e}");
                continue;
            }
        };
        if found.tools.is_empty() {
            continue;
        }
        let uid = file
            .metadata()
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m));
        scan.add(
            &found.tools,
            Finding {
                evidence_type: "file",
                evidence: format!(
                    "{} file {path} ({size} bytes) {}, whatever it is called",
                    sw.publisher.as_deref().unwrap_or("executable"),
                    identity_words(scan, &found)
                ),
                path: Some(path),
                user: sw.installed_by,
                uid,
                confidence: "high",
                ..Finding::default()
            },
        );
    }
    if unread > 0 {
        scan.incomplete.push(Incomplete {
            area: CONTENT_IDENTITY_AREA.to_string(),
            reason: format!(
                "{unread} executables in user places were not read, {} MiB having been read \
                 in this query; a running extension reads the rest in later queries",
                AT_REST_SCAN_BUDGET >> 20
            ),
        });
    }
}

fn collect_usb(scan: &mut Scan<'_>) {
    for dev in usb::usb_devices(scan.root) {
        let tools = scan.catalog.by_usb(
            &dev.vendor_id,
            &dev.product_id,
            &dev.manufacturer,
            &dev.product,
            &dev.serial,
        );
        if tools.is_empty() {
            continue;
        }
        let evidence = format!(
            "USB device {} {}:{} \"{}\" \"{}\" presents an IP-KVM identity (identities can be changed: confirm physically)",
            dev.name, dev.vendor_id, dev.product_id, dev.manufacturer, dev.product
        );
        scan.add(
            &tools,
            Finding {
                evidence_type: "usb_device",
                path: Some(join(paths::SYS_USB_DEVICES, &dev.name)),
                evidence,
                confidence: "medium",
                ..Finding::default()
            },
        );
    }
}
