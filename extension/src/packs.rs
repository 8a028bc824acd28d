//! Query packs for osquery and Fleet, generated from the tables and the
//! catalogs by `postern packs generate`. A test fails when the committed
//! files differ from what this module generates.
//!
//! - `packs/postern-*.conf`: osquery packs on postern's tables, gated by a
//!   discovery query so hosts without the extension stay quiet.
//! - `packs/postern-core-*.conf`: name-based detection on osquery's core
//!   tables (processes, packages, apps, programs, services, extensions, USB,
//!   sockets) for hosts that cannot load the extension, Windows included.
//! - `fleet/reports.yml`, `fleet/policies.yml`: Fleet GitOps reports and
//!   policies (current field names), the policies with a resolution and,
//!   for Linux fixes, a `run_script` remediation.
//!
//! Intervals are chosen so that a broken control or a new remote access tool
//! reaches the log within 10 minutes (300 s plus osquery's 10 % splay).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::agents::AgentCatalog;
use crate::catalog::{Catalog, Category};

/// How often detection queries run: 300 s + 10 % splay stays under 10 min.
pub const DETECT_INTERVAL: u64 = 300;
const HOURLY: u64 = 3600;
const DAILY: u64 = 86_400;

/// One scheduled query.
#[derive(Clone, Debug)]
pub struct Query {
    pub name: &'static str,
    pub sql: String,
    pub interval: u64,
    pub description: String,
    pub value: String,
    /// osquery pack platform: posix, linux, darwin, windows, all.
    pub platform: &'static str,
    pub snapshot: bool,
}

/// One pack file.
#[derive(Clone, Debug)]
pub struct Pack {
    pub file: &'static str,
    pub platform: &'static str,
    /// Tables whose presence gates the pack (postern's own).
    pub discovery: Vec<&'static str>,
    pub queries: Vec<Query>,
}

fn q(
    name: &'static str,
    sql: &str,
    interval: u64,
    snapshot: bool,
    platform: &'static str,
    description: &str,
    value: &str,
) -> Query {
    Query {
        name,
        sql: sql.to_string(),
        interval,
        description: description.to_string(),
        value: value.to_string(),
        platform,
        snapshot,
    }
}

fn discovery_sql(table: &str) -> String {
    format!("SELECT 1 FROM osquery_registry WHERE registry = 'table' AND name = '{table}' AND active = 1;")
}

/// SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL list of the exact names (catalog patterns are left to
/// [`glob_terms`]).
fn in_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let set: BTreeSet<&String> = items
        .into_iter()
        .filter(|s| !crate::catalog::is_pattern(s))
        .collect();
    set.into_iter()
        .map(|s| lit(s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` OR column GLOB '...'` for each catalog pattern (SQLite's GLOB has the
/// same `*`, `?` and `[...]` as the catalog, and is case-sensitive like it).
fn glob_terms<'a>(column: &str, items: impl IntoIterator<Item = &'a String>) -> String {
    let set: BTreeSet<&String> = items
        .into_iter()
        .filter(|s| crate::catalog::is_pattern(s))
        .collect();
    set.into_iter()
        .map(|p| format!(" OR {column} GLOB {}", lit(p)))
        .collect()
}

/// The packs on postern's own tables.
fn postern_packs() -> Vec<Pack> {
    vec![
        Pack {
            file: "postern-remote-access.conf",
            platform: "posix",
            discovery: vec!["remote_access_tools"],
            queries: vec![
                q("postern_remote_access_unapproved",
                  "SELECT tool_id, name, category, evidence_type, evidence, path, pid, port, user, severity, confidence FROM remote_access_tools WHERE approved = 0 AND confidence != 'low';",
                  DETECT_INTERVAL, false, "posix",
                  "Remote access tools the policy does not approve, from every kind of evidence (process, package, bundle, service, file, USB).",
                  "A remote hire's laptop driven from elsewhere shows up here first: an added row is a new tool, a removed row a tool that went away."),
                q("postern_remote_access_port_only",
                  "SELECT tool_id, name, evidence, pid, port, protocol, user FROM remote_access_tools WHERE approved = 0 AND confidence = 'low';",
                  900, false, "posix",
                  "Listening sockets on a remote access tool's default port held by no known tool executable.",
                  "A renamed or custom VNC/RDP server can hide its name but not its port; low confidence, worth a look."),
                q("postern_remote_access_inventory",
                  "SELECT tool_id, category, evidence_type, approved, severity FROM remote_access_tools;",
                  DAILY, true, "posix",
                  "Daily inventory of every remote access tool on the host, approved or not.",
                  "Coverage reporting: which hosts run which tools, and how many are approved."),
            ],
        },
        Pack {
            file: "postern-control-health.conf",
            platform: "posix",
            discovery: vec!["security_control_health"],
            queries: vec![
                q("postern_control_status",
                  "SELECT control, product, category, required, status, severity, status_since FROM security_control_health;",
                  DETECT_INTERVAL, false, "posix",
                  "Every security control and agent with its status and since when the host says it is in it; the differential log records each change of status.",
                  "A control that breaks (EDR stopped, firewall off, baseline tampered) appears as an added row with its new status within 10 minutes; time to resolve is the time to the next change."),
                q("postern_control_failures",
                  "SELECT control, product, status, evidence, remediation, severity, required, status_since FROM security_control_health WHERE status IN ('fail', 'degraded', 'unknown');",
                  HOURLY, true, "posix",
                  "Controls that do not pass, with the evidence and the fix.",
                  "What the help desk needs to act: the reason and the one-sentence remediation."),
                q("postern_control_snapshot",
                  "SELECT * FROM security_control_health;",
                  DAILY, true, "posix",
                  "Daily snapshot of every control, for compliance reporting.",
                  "postern report grades hosts and controls from these snapshots."),
            ],
        },
        Pack {
            file: "postern-new-software.conf",
            platform: "posix",
            discovery: vec!["new_software_since_enrollment"],
            queries: vec![
                q("postern_new_unmanaged_software",
                  "SELECT name, version, source, path, install_time, installed_by, publisher, remote_access_tool, sha256, in_baseline FROM new_software_since_enrollment WHERE managed = 0;",
                  HOURLY, false, "posix",
                  "Software that arrived after enrollment and that no software.managed rule covers.",
                  "What newly onboarded users bring into the organisation, with who installed it and whether it is a remote access tool."),
                q("postern_new_software_snapshot",
                  "SELECT name, version, source, install_time, enrollment_time, enrollment_source, managed, remote_access_tool FROM new_software_since_enrollment;",
                  DAILY, true, "posix",
                  "Daily list of all software that arrived after enrollment, managed or not.",
                  "Weekly new-software figures in postern report."),
            ],
        },
        Pack {
            file: "postern-software-hygiene.conf",
            platform: "posix",
            discovery: vec!["software_hygiene"],
            queries: vec![
                q("postern_hygiene_security_updates",
                  "SELECT name, version, latest_version, outdated_source, security_pending_since FROM software_hygiene WHERE security_update = 1;",
                  HOURLY, false, "posix",
                  "Packages with a security update waiting, and since when postern has seen it waiting.",
                  "An added row is a security fix the host has not installed; the removed row, when it is installed. postern report measures how long they wait."),
                q("postern_hygiene_redundant_remote_access",
                  "SELECT name, source, remote_access_tool, redundant_with FROM software_hygiene WHERE function = 'remote_access' AND redundant_with != '';",
                  HOURLY, false, "posix",
                  "Remote access tools installed beside another remote access tool.",
                  "Two remote access tools on one laptop is one too many: the second is attack surface nobody asked for."),
                q("postern_hygiene_snapshot",
                  "SELECT name, version, source, function, managed, outdated, security_update, eol, redundant_with, unused_days FROM software_hygiene;",
                  DAILY, true, "posix",
                  "Daily inventory of every app and the OS with outdated, end-of-life, redundant and unused flags.",
                  "The attack-surface section of postern report: outdated, end-of-life, redundant and unused counts per host and fleet-wide."),
            ],
        },
        Pack {
            file: "postern-laptop-farm.conf",
            platform: "posix",
            discovery: vec!["laptop_farm_signals"],
            queries: vec![
                q("postern_laptop_farm_over_threshold",
                  "SELECT weight AS score FROM laptop_farm_signals WHERE signal = 'score' AND status = 'investigate';",
                  HOURLY, false, "posix",
                  "Hosts whose laptop-farm score is at or over the threshold (postern_laptop_farm_signals says what made it).",
                  "An added row is a laptop that now looks like it sits in a farm (a reason to look, not proof); the removed row, when it no longer does."),
                q("postern_laptop_farm_signals",
                  "SELECT signal, category, weight, observed, confidence, path FROM laptop_farm_signals WHERE status = 'present';",
                  HOURLY, false, "posix",
                  "Each laptop-farm trait as it appears or goes away: assignment drift, consumer VPNs, remote-control hardware, shelf posture, keep-awake software, remote sessions.",
                  "Which traits a host shows and since when; one alone is weak, several together are the signal."),
                q("postern_laptop_farm_snapshot",
                  "SELECT signal, category, status, weight FROM laptop_farm_signals WHERE status != 'unknown';",
                  DAILY, true, "posix",
                  "Daily laptop-farm score and signals of every host.",
                  "The laptop-farm section of postern report: hosts over the threshold and the signals seen most fleet-wide."),
            ],
        },
        Pack {
            file: "postern-remote-session.conf",
            platform: "posix",
            discovery: vec!["remote_access_tools"],
            queries: vec![
                q("postern_ip_kvm_devices",
                  "SELECT tool_id, name, evidence, path FROM remote_access_tools WHERE category = 'ip_kvm';",
                  DETECT_INTERVAL, false, "posix",
                  "USB devices presenting an IP-KVM's gadget identity (PiKVM, TinyPilot, JetKVM, BliKVM, GL.iNet Comet, NanoKVM).",
                  "An IP-KVM lets someone elsewhere drive the laptop with no software on it; identities can be changed, so confirm physically."),
                q("postern_remote_desktop_enabled",
                  "SELECT tool_id, name, evidence, path, approved FROM remote_access_tools WHERE evidence_type = 'remote_desktop_enabled';",
                  DETECT_INTERVAL, false, "posix",
                  "VNC or RDP servers and built-in screen sharing enabled at boot or login.",
                  "A remote desktop service that starts by itself is a standing invitation."),
                q("postern_remote_access_listening",
                  "SELECT tool_id, name, evidence, pid, port, protocol, user, approved FROM remote_access_tools WHERE evidence_type = 'listening_port' AND confidence = 'high';",
                  DETECT_INTERVAL, false, "posix",
                  "Remote access tools accepting connections on this host.",
                  "A listening remote access tool can be reached directly, not only through its vendor's relay."),
            ],
        },
    ]
}

/// Name-based detection on core tables, generated from the catalogs.
fn core_packs(catalog: &Catalog, agents: &AgentCatalog) -> Vec<Pack> {
    let tools = || catalog.tools.iter().filter(|t| !t.generic);
    let posix_names =
        || tools().flat_map(|t| t.linux.process_names.iter().chain(&t.macos.process_names));
    let posix_procs = in_list(posix_names());
    let posix_proc_globs = glob_terms("name", posix_names());
    let win_procs = in_list(tools().flat_map(|t| t.windows.process_names.iter()));
    let debs = in_list(tools().flat_map(|t| t.linux.packages.iter()));
    let bundles = in_list(tools().flat_map(|t| t.macos.bundle_ids.iter()));
    let win_services = in_list(tools().flat_map(|t| t.windows.services.iter()));
    let programs: Vec<String> = tools()
        .flat_map(|t| t.windows.programs.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|p| format!("name LIKE {}", lit(&format!("{}%", p.replace('%', "")))))
        .collect();
    let extensions = in_list(tools().flat_map(|t| t.browser_extensions.iter()));
    let mut usb_terms = Vec::new();
    for t in tools().filter(|t| t.category == Category::IpKvm) {
        for u in &t.usb {
            let mut parts = Vec::new();
            if let Some(v) = &u.vendor_id {
                parts.push(format!("vendor_id = {}", lit(v)));
            }
            if let Some(v) = &u.product_id {
                parts.push(format!("model_id = {}", lit(v)));
            }
            if let Some(v) = &u.manufacturer {
                parts.push(format!("vendor = {} COLLATE NOCASE", lit(v)));
            }
            if let Some(v) = &u.product {
                parts.push(format!("model = {} COLLATE NOCASE", lit(v)));
            }
            if !parts.is_empty() {
                usb_terms.push(format!("({})", parts.join(" AND ")));
            }
        }
    }
    let usb_terms: BTreeSet<String> = usb_terms.into_iter().collect();
    // Ports that name one tool, not shared defaults such as 5900 or 3389.
    let mut port_owners: std::collections::BTreeMap<(u32, String), BTreeSet<&str>> =
        Default::default();
    for t in tools() {
        for p in &t.ports {
            port_owners
                .entry((p.port, p.protocol.clone()))
                .or_default()
                .insert(t.id.as_str());
        }
    }
    let ports: BTreeSet<u32> = port_owners
        .iter()
        .filter(|(_, owners)| owners.len() == 1)
        .map(|((port, _), _)| *port)
        .collect();
    let ports = ports
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");

    let agent_procs = in_list(
        agents
            .agents
            .iter()
            .flat_map(|a| a.linux.process_names.iter().chain(&a.macos.process_names)),
    );
    let agent_debs = in_list(agents.agents.iter().flat_map(|a| a.linux.packages.iter()));
    let agent_bundles = in_list(agents.agents.iter().flat_map(|a| a.macos.bundle_ids.iter()));
    let agent_win_services = in_list(agents.agents.iter().flat_map(|a| a.windows.services.iter()));
    let agent_win_procs = in_list(
        agents
            .agents
            .iter()
            .flat_map(|a| a.windows.process_names.iter()),
    );

    let detect = "Name-based detection from postern's catalog, for hosts without the extension.";
    vec![
        Pack {
            file: "postern-core-remote-access.conf",
            platform: "all",
            discovery: Vec::new(),
            queries: vec![
                q("postern_core_ra_processes", &format!("SELECT pid, name, path, cmdline, uid FROM processes WHERE name IN ({posix_procs}){posix_proc_globs};"), DETECT_INTERVAL, false, "posix",
                  "Running processes named like a remote access tool (Linux, macOS).", detect),
                q("postern_core_ssh_reverse_tunnels", "SELECT pid, name, cmdline, uid FROM processes WHERE name = 'ssh' AND (cmdline GLOB '* -R*' OR cmdline GLOB '* -[1246AaCfGgKkMNnqsTtVvXxYy]*R*' OR cmdline LIKE '%RemoteForward%');", DETECT_INTERVAL, false, "posix",
                  "ssh clients holding a reverse tunnel (-R, RemoteForward) back to this host; approximate, the extension parses the command line exactly.", detect),
                q("postern_core_ra_processes_windows", &format!("SELECT pid, name, path, cmdline FROM processes WHERE lower(name) IN ({});", win_procs.to_lowercase()), DETECT_INTERVAL, false, "windows",
                  "Running processes named like a remote access tool (Windows).", detect),
                q("postern_core_ra_deb_packages", &format!("SELECT name, version, maintainer FROM deb_packages WHERE name IN ({debs});"), DETECT_INTERVAL, false, "linux",
                  "Debian packages of remote access tools.", detect),
                q("postern_core_ra_rpm_packages", &format!("SELECT name, version, vendor, install_time FROM rpm_packages WHERE name IN ({debs});"), DETECT_INTERVAL, false, "linux",
                  "RPM packages of remote access tools.", detect),
                q("postern_core_ra_apps", &format!("SELECT name, path, bundle_identifier, bundle_short_version FROM apps WHERE bundle_identifier IN ({bundles});"), DETECT_INTERVAL, false, "darwin",
                  "macOS applications of remote access tools, by bundle identifier.", detect),
                q("postern_core_ra_programs", &format!("SELECT name, version, publisher, install_location, install_date FROM programs WHERE {};", programs.join(" OR ")), DETECT_INTERVAL, false, "windows",
                  "Installed Windows programs of remote access tools.", detect),
                q("postern_core_ra_services", &format!("SELECT name, display_name, status, start_type, path FROM services WHERE name IN ({win_services});"), DETECT_INTERVAL, false, "windows",
                  "Windows services of remote access tools and RMM agents.", detect),
                q("postern_core_ra_chrome_extensions", &format!("SELECT browser_type, uid, name, identifier, version, profile_path FROM chrome_extensions WHERE identifier IN ({extensions});"), DETECT_INTERVAL, false, "all",
                  "Browser extensions of remote access tools (Chrome Remote Desktop and others).", detect),
                q("postern_core_ip_kvm_usb", &format!("SELECT vendor, vendor_id, model, model_id, serial FROM usb_devices WHERE {};", usb_terms.into_iter().collect::<Vec<_>>().join(" OR ")), DETECT_INTERVAL, false, "posix",
                  "USB devices presenting an IP-KVM's gadget identity.", "An IP-KVM drives the laptop without any software on it; identities can be changed, so confirm physically."),
                q("postern_core_ra_listening_ports", &format!("SELECT lp.port, lp.protocol, lp.address, p.pid, p.name, p.path FROM listening_ports lp JOIN processes p USING (pid) WHERE lp.port IN ({ports});"), DETECT_INTERVAL, false, "all",
                  "Sockets listening on a port that only one remote access tool uses by default.", detect),
            ],
        },
        Pack {
            file: "postern-core-edr.conf",
            platform: "all",
            discovery: Vec::new(),
            queries: vec![
                q("postern_core_edr_processes", &format!("SELECT pid, name, path FROM processes WHERE name IN ({agent_procs});"), DETECT_INTERVAL, false, "posix",
                  "Running security agents (EDR, anti-malware, telemetry) on Linux and macOS.", "An EDR that stops running leaves the host blind: its process row is removed."),
                q("postern_core_edr_processes_windows", &format!("SELECT pid, name, path FROM processes WHERE lower(name) IN ({});", agent_win_procs.to_lowercase()), DETECT_INTERVAL, false, "windows",
                  "Running security agents on Windows.", "An EDR that stops running leaves the host blind: its process row is removed."),
                q("postern_core_edr_packages", &format!("SELECT name, version FROM deb_packages WHERE name IN ({agent_debs}) UNION SELECT name, version FROM rpm_packages WHERE name IN ({agent_debs});"), HOURLY, false, "linux",
                  "Installed security agent packages on Linux.", "Coverage: which hosts have which agent installed."),
                q("postern_core_edr_apps", &format!("SELECT name, bundle_identifier, bundle_short_version FROM apps WHERE bundle_identifier IN ({agent_bundles});"), HOURLY, false, "darwin",
                  "Installed security agent applications on macOS.", "Coverage: which hosts have which agent installed."),
                q("postern_core_edr_services", &format!("SELECT name, display_name, status, start_type FROM services WHERE name IN ({agent_win_services});"), DETECT_INTERVAL, false, "windows",
                  "Security agent services on Windows with their state and start type.", "A stopped or disabled EDR service is a broken control."),
            ],
        },
    ]
}

/// Every pack.
pub fn packs(catalog: &Catalog, agents: &AgentCatalog) -> Vec<Pack> {
    let mut all = postern_packs();
    all.extend(core_packs(catalog, agents));
    all
}

/// A pack in osquery's JSON format.
pub fn pack_json(pack: &Pack) -> String {
    let mut queries = Map::new();
    for query in &pack.queries {
        queries.insert(
            query.name.to_string(),
            json!({
                "query": query.sql,
                "interval": query.interval,
                "description": query.description,
                "value": query.value,
                "platform": query.platform,
                "snapshot": query.snapshot,
            }),
        );
    }
    let mut obj = Map::new();
    obj.insert("platform".into(), Value::String(pack.platform.into()));
    if !pack.discovery.is_empty() {
        obj.insert(
            "discovery".into(),
            Value::Array(
                pack.discovery
                    .iter()
                    .map(|t| Value::String(discovery_sql(t)))
                    .collect(),
            ),
        );
    }
    obj.insert("queries".into(), Value::Object(queries));
    let mut text = serde_json::to_string_pretty(&Value::Object(obj)).unwrap_or_default();
    text.push('\n');
    text
}

/// osquery platform names to Fleet's.
fn fleet_platform(platform: &str) -> &'static str {
    match platform {
        "posix" => "darwin,linux",
        "linux" => "linux",
        "darwin" => "darwin",
        "windows" => "windows",
        _ => "darwin,linux,windows",
    }
}

/// A YAML scalar: JSON strings are valid YAML double-quoted scalars.
fn y(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The Fleet release whose GitOps key names the files follow.
pub const FLEET_VERSION: &str = "4.82";

/// Said at the top of every Fleet file.
const FLEET_HEADER: &str = "# Generated by `postern packs generate`; do not edit.\n\
# Fleet GitOps (`fleetctl gitops`), Fleet Premium 4.82 or later: `reports:` and\n\
# `settings:`, fleet files in `fleets/`. Before 4.82 the keys were `queries:` and\n\
# `team_settings:` and the folder `teams/`; the content is the same.\n";

/// The dynamic label of hosts whose osquery has postern's tables.
pub const LOADED_LABEL: &str = "postern loaded";

/// Passes where every table of postern is registered and active in osquery.
pub fn loaded_sql() -> String {
    let names: Vec<String> = crate::tables::all().iter().map(|t| lit(t.name())).collect();
    format!(
        "SELECT 1 WHERE (SELECT COUNT(*) FROM osquery_registry WHERE registry = 'table' AND active = 1 AND name IN ({})) = {};",
        names.join(", "),
        names.len()
    )
}

/// `labels_include_any` scoping an item to the hosts that have postern.
fn scoped() -> String {
    format!("  labels_include_any:\n    - {}\n", y(LOADED_LABEL))
}

/// Fleet GitOps labels: the hosts whose osquery has loaded postern.
pub fn fleet_labels() -> String {
    let mut out = format!("{FLEET_HEADER}# Labels: a list, for `labels: [{{path: ...}}]` in one GitOps file only\n# (label names are global to Fleet).\n");
    let _ = write!(
        out,
        "- name: {}\n  description: {}\n  query: {}\n  label_membership_type: dynamic\n",
        y(LOADED_LABEL),
        y("Hosts whose osquery has postern's tables registered and active. postern's reports and policies are scoped to it; the policy \"postern: extension loaded\" shows the hosts missing from it."),
        y(&loaded_sql()),
    );
    out
}

/// Fleet GitOps reports mirroring the scheduled queries; those on postern's
/// tables are scoped to the hosts that have them.
pub fn fleet_reports(packs: &[Pack]) -> String {
    let mut out = format!("{FLEET_HEADER}# Reports: the packs' scheduled queries, a list for `reports: [{{path: ...}}]`.\n");
    for pack in packs {
        for query in &pack.queries {
            let logging = if query.snapshot {
                "snapshot"
            } else {
                "differential"
            };
            let _ = write!(
                out,
                "- name: {}\n  description: {}\n  query: {}\n  platform: {}\n  interval: {}\n  observer_can_run: true\n  automations_enabled: true\n  logging: {logging}\n",
                y(query.name),
                y(&query.description),
                y(&query.sql),
                y(fleet_platform(query.platform)),
                query.interval,
            );
            if !pack.discovery.is_empty() {
                out.push_str(&scoped());
            }
        }
    }
    out
}

/// A Fleet policy: passes when its query returns a row.
pub struct Policy {
    pub name: &'static str,
    pub query: String,
    pub description: &'static str,
    pub resolution: &'static str,
    pub platform: &'static str,
    pub critical: bool,
    pub run_script: Option<&'static str>,
    /// Scoped to the hosts that have postern (its query reads postern's tables).
    pub scoped: bool,
}

pub fn policies() -> Vec<Policy> {
    vec![
        Policy {
            name: "postern: extension loaded",
            query: loaded_sql(),
            description: "postern's tables are registered in this host's osquery. The other postern policies and reports are scoped to the \"postern loaded\" label and do not run where it is missing, so this policy is where missing coverage shows.",
            resolution: "fleetd hosts: check that agent options list postern under extensions for this platform, that the update server carries extensions/postern_<platform> on that channel, and that /opt/orbit/extensions.load names it. Package installs: check /usr/lib/postern/postern.ext is in /etc/osquery/extensions.load. Then read osqueryd's log for lines about the extension (unsafe permissions, registration refused).",
            platform: "linux,darwin",
            critical: true,
            scoped: false,
            run_script: None,
        },
        Policy {
            name: "postern: EDR agent healthy",
            query: "SELECT 1 FROM security_control_health WHERE control = 'edr' AND status = 'pass';".into(),
            description: "A required EDR or anti-malware agent is installed, running, enabled at boot and reporting.",
            resolution: "Open postern_control_failures for this host to see which agent is broken and why. If the agent is installed but stopped, the remediation script restarts it; otherwise reinstall it from the software portal and check it reaches its console.",
            platform: "linux,darwin",
            critical: true,
            scoped: true,
            run_script: Some("scripts/remediation/restart-edr.sh"),
        },
        Policy {
            name: "postern: no unapproved remote access tool",
            query: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM remote_access_tools WHERE approved = 0 AND confidence != 'low');".into(),
            description: "No remote access tool, RMM agent, VNC/RDP server, tunnel or IP-KVM outside the approved list is installed, running or plugged in.",
            resolution: "Look at remote_access_tools on the host to see the tool and every piece of evidence. Ask the user why it is there. Remove the package with the remediation script (it only removes unapproved remote access packages), then check no process, service or USB device remains; escalate an IP-KVM to security.",
            platform: "linux,darwin",
            critical: true,
            scoped: true,
            run_script: Some("scripts/remediation/remove-unapproved-remote-access.sh"),
        },
        Policy {
            name: "postern: no unmanaged new software in the last 30 days",
            query: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM new_software_since_enrollment WHERE managed = 0 AND install_time > CAST(strftime('%s', 'now') AS INTEGER) - 30 * 86400);".into(),
            description: "Everything installed in the last 30 days is covered by the policy's software.managed rules.",
            resolution: "List new_software_since_enrollment WHERE managed = 0 for the host. Approve the software (add a software.managed rule) or ask the user to remove it; remote access tools among it go to security.",
            platform: "linux,darwin",
            critical: false,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: disk encryption",
            query: "SELECT 1 FROM security_control_health WHERE control IN ('disk_encryption', 'filevault') AND status = 'pass';".into(),
            description: "The root filesystem is on a LUKS device (Linux), or FileVault is on (macOS).",
            resolution: "Linux: the disk must be reinstalled with full-disk encryption; schedule a reimage with the user. macOS: turn on FileVault (System Settings > Privacy & Security) and escrow the key in the MDM.",
            platform: "linux,darwin",
            critical: true,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: firewall on",
            query: "SELECT 1 FROM security_control_health WHERE control IN ('firewall', 'macos_firewall') AND status = 'pass';".into(),
            description: "A host firewall is active (ufw, firewalld, nftables or iptables on Linux; the application firewall on macOS).",
            resolution: "Linux: run the remediation script, which enables ufw or firewalld when one is installed and does nothing otherwise. macOS: turn on the firewall in System Settings > Network > Firewall or push the firewall profile.",
            platform: "linux,darwin",
            critical: false,
            scoped: true,
            run_script: Some("scripts/remediation/enable-firewall.sh"),
        },
        Policy {
            name: "postern: automatic updates",
            query: "SELECT 1 FROM security_control_health WHERE control IN ('auto_updates', 'macos_auto_updates') AND status = 'pass';".into(),
            description: "Security updates install automatically (unattended-upgrades or dnf-automatic; Software Update on macOS).",
            resolution: "Debian/Ubuntu: install unattended-upgrades and enable it (dpkg-reconfigure -plow unattended-upgrades). Fedora/RHEL: install dnf-automatic and enable dnf-automatic-install.timer. macOS: enable automatic updates in System Settings > General > Software Update.",
            platform: "linux,darwin",
            critical: false,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: no security update pending for more than 7 days",
            query: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM software_hygiene WHERE security_update = 1 AND security_pending_since < CAST(strftime('%s', 'now') AS INTEGER) - 7 * 86400);".into(),
            description: "Every security update (APT's security archives; the security advisories of dnf, yum or zypper repositories) is installed within 7 days of postern first seeing it offered (the package managers keep no such history; postern remembers when it first saw each one).",
            resolution: "Query software_hygiene WHERE security_update = 1 on the host for the packages and versions, then install them (apt-get upgrade or dnf upgrade --security, or let unattended-upgrades or dnf-automatic run: see the auto_updates control). A host that cannot reach its mirror keeps failing: check apt-get update or dnf makecache.",
            platform: "linux",
            critical: true,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: no redundant remote access tool",
            query: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM software_hygiene WHERE function = 'remote_access' AND redundant_with != '');".into(),
            description: "At most one remote access tool is installed (or the ones the policy's software.functions allow).",
            resolution: "Query software_hygiene WHERE function = 'remote_access' on the host: keep the organisation's approved tool and remove the others; name the approved one in the policy (software.functions.remote_access.approved).",
            platform: "linux,darwin",
            critical: false,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: no laptop-farm signals over the threshold",
            query: "SELECT 1 FROM laptop_farm_signals WHERE signal = 'score' AND status = 'clear';".into(),
            description: "The host's laptop-farm score (assignment drift, consumer VPNs, IP-KVMs and capture devices, a closed lid with an external display, keep-awake software, remote sessions) is below the threshold. A failing host is a reason to look, not proof.",
            resolution: "Query laptop_farm_signals on the host for the signals and their evidence, then confirm with the employee and their manager where the device is and who uses it; approve legitimate tools (laptop_farm.approved) and state the assignment (assignment) in the policy so drift is measured against the right place.",
            platform: "linux,darwin",
            critical: true,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: file scans complete",
            query: "SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM remote_access_tools WHERE evidence_type = 'scan_incomplete') AND NOT EXISTS (SELECT 1 FROM new_software_since_enrollment WHERE source = 'scan_incomplete');".into(),
            description: "postern's walks for portable tools and executables reached every file: no place was flooded past its budget or cut off by the deadline.",
            resolution: "Query remote_access_tools WHERE evidence_type = 'scan_incomplete' on the host: path is the place and evidence says why. A directory flooded with files is a way to hide a tool; look at what is there and who made it.",
            platform: "linux,darwin",
            critical: false,
            scoped: true,
            run_script: None,
        },
        Policy {
            name: "postern: enrollment baseline intact",
            query: "SELECT 1 FROM security_control_health WHERE control = 'postern_baseline' AND status = 'pass';".into(),
            description: "postern's enrollment baseline exists and its digest matches.",
            resolution: "A damaged or vanished baseline means someone touched /var/lib/postern. Keep baseline.json.damaged, tell security, and only after their review run postern baseline init --force on the host.",
            platform: "linux,darwin",
            critical: true,
            scoped: true,
            run_script: None,
        },
    ]
}

/// Fleet GitOps policies. With `scripts`, the Linux and macOS fixes are
/// attached as `run_script` automations, which Fleet accepts only in a
/// fleet (team) file that also lists the scripts under `controls.scripts`.
pub fn fleet_policies(scripts: bool) -> String {
    let mut out = String::from(FLEET_HEADER);
    if scripts {
        out.push_str("# Policies for a fleet file, with run_script remediations: the fleet file must\n# list the same scripts under controls.scripts (see fleet/example/workstations.yml).\n");
    } else {
        out.push_str("# Policies for default.yml or a fleet file, without remediation scripts (Fleet\n# accepts run_script only in fleet files: use fleet-policies.yml there).\n");
    }
    out.push_str("# A policy passes when its query returns a row.\n");
    for p in policies() {
        let _ = write!(
            out,
            "- name: {}\n  description: {}\n  resolution: {}\n  query: {}\n  platform: {}\n  critical: {}\n",
            y(p.name),
            y(p.description),
            y(p.resolution),
            y(&p.query),
            y(p.platform),
            p.critical
        );
        if p.scoped {
            out.push_str(&scoped());
        }
        if let (true, Some(script)) = (scripts, p.run_script) {
            let _ = writeln!(
                out,
                "  run_script:\n    path: {}",
                y(&format!("../{script}"))
            );
        }
    }
    out
}

/// One extension entry of fleetd's agent options.
pub struct FleetdTarget {
    /// The extension's name in agent options and on the update server
    /// (`extensions/<name>`); the published file is `<name>.ext`.
    pub name: &'static str,
    /// fleetd's platform value.
    pub platform: &'static str,
    /// The Rust target a release build for it is made for.
    pub rust_target: &'static str,
    /// Built and tested by `scripts/package --fleetd` on this project's CI;
    /// the others are listed commented out, to enable once published.
    pub built_here: bool,
}

/// The update-server channel the agent options follow.
pub const FLEETD_CHANNEL: &str = "stable";

/// One name per platform: agent options map a name to one platform.
pub const FLEETD_TARGETS: &[FleetdTarget] = &[
    FleetdTarget {
        name: "postern_linux",
        platform: "linux",
        rust_target: "x86_64-unknown-linux-gnu",
        built_here: true,
    },
    FleetdTarget {
        name: "postern_linux_arm64",
        platform: "linux-arm64",
        rust_target: "aarch64-unknown-linux-gnu",
        built_here: false,
    },
    FleetdTarget {
        name: "postern_macos",
        platform: "macos",
        rust_target: "universal (aarch64-apple-darwin + x86_64-apple-darwin, lipo)",
        built_here: false,
    },
];

/// The `extensions:` map of fleetd's agent options, indented by `indent`;
/// targets not built here are commented out until the organisation
/// publishes them.
fn extensions_yaml(indent: &str) -> String {
    let mut out = format!("{indent}extensions:\n");
    for t in FLEETD_TARGETS {
        let c = if t.built_here { "" } else { "# " };
        if !t.built_here {
            let _ = writeln!(
                out,
                "{indent}  # Once extensions/{} is published ({}):",
                t.name, t.rust_target
            );
        }
        let _ = write!(
            out,
            "{indent}  {c}{}:\n{indent}  {c}  channel: {}\n{indent}  {c}  platform: {}\n",
            t.name,
            y(FLEETD_CHANNEL),
            y(t.platform)
        );
    }
    out
}

/// The agent-options snippet that makes fleetd fetch and load postern.
pub fn fleet_agent_options() -> String {
    let mut out = String::from(FLEET_HEADER);
    out.push_str(
        "# fleetd (orbit) extensions: merge `extensions:` into the agent_options of\n\
# default.yml or of a fleet file (a fleet's agent options replace the global\n\
# ones, they are not merged). Keep only the platforms you publish: orbit\n\
# writes no extensions.load at all on a host where one listed target is\n\
# missing from the update server. Publish each with\n\
#   fleetctl updates add --path <repo> --target postern_<platform>.ext \\\n\
#     --platform <platform> --name extensions/postern_<platform> --version <v> -t stable\n\
# (scripts/package --fleetd builds the Linux file and prints the command).\n",
    );
    out.push_str(&extensions_yaml(""));
    out
}

/// A whole fleet file using every generated piece, for a Fleet GitOps
/// repository laid out like this one (`fleet/example/`).
pub fn fleet_example() -> String {
    let mut out = String::from(FLEET_HEADER);
    out.push_str(
        r#"# An example fleet file wiring postern in: copy it to fleets/ in your GitOps
# repository and merge it with your own fleet file. Keys left out of a fleet
# file are cleared by fleetctl gitops (agent options, policies, reports,
# settings, controls; labels since 4.84), so keep your own entries beside
# these. With more than one fleet, define the label once (in default.yml):
# label names are global. Paths are relative to this file, except run_script
# paths, which are relative to fleet-policies.yml; both must name the same file.
name: Workstations
settings:
  secrets:
    - secret: $POSTERN_FLEET_ENROLL_SECRET
agent_options:
  # Fleet's default agent configuration.
  config:
    options:
      pack_delimiter: /
      logger_tls_period: 10
      distributed_plugin: tls
      disable_distributed: false
      logger_tls_endpoint: /api/osquery/log
      distributed_interval: 10
      distributed_tls_max_attempts: 3
    decorators:
      load:
        - SELECT uuid AS host_uuid FROM system_info;
        - SELECT hostname AS hostname FROM system_info;
"#,
    );
    out.push_str(&extensions_yaml("  "));
    out.push_str("controls:\n  scripts:\n");
    let scripts: BTreeSet<&str> = policies().iter().filter_map(|p| p.run_script).collect();
    for script in scripts {
        let _ = writeln!(out, "    - path: {}", y(&format!("../../{script}")));
    }
    out.push_str(
        "policies:\n  - path: ../fleet-policies.yml\nreports:\n  - path: ../reports.yml\nlabels:\n  - path: ../labels.yml\n",
    );
    out
}

/// Every generated file: (path relative to the repository, content).
pub fn files(catalog: &Catalog, agents: &AgentCatalog) -> Vec<(String, String)> {
    let all = packs(catalog, agents);
    let mut out: Vec<(String, String)> = all
        .iter()
        .map(|p| (format!("packs/{}", p.file), pack_json(p)))
        .collect();
    out.push(("fleet/labels.yml".into(), fleet_labels()));
    out.push(("fleet/reports.yml".into(), fleet_reports(&all)));
    out.push(("fleet/policies.yml".into(), fleet_policies(false)));
    out.push(("fleet/fleet-policies.yml".into(), fleet_policies(true)));
    out.push(("fleet/agent-options.yml".into(), fleet_agent_options()));
    out.push(("fleet/example/workstations.yml".into(), fleet_example()));
    out
}
