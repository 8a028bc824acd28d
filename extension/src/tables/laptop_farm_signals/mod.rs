//! `laptop_farm_signals`: is this laptop where, and with whom, it was
//! assigned? One row per trait of the "laptop farm" found on the host
//! (assignment drift, consumer VPNs and proxies, remote-control hardware,
//! shelf posture, keep-awake software, remote sessions now), one row per
//! trait whose source could not be read (`status = 'unknown'`, weight
//! NULL), and a `score` row with the weighted total and a verdict a Fleet
//! policy can test. Weights and the threshold are data
//! (`catalog/laptop_farm/signals.json`, with the reasoning for each); a
//! signal is a reason to look, never proof.
//!
//! Files only: the readers are in [`assignment`], [`posture`] and
//! [`devices`]; IP-KVMs, remote access tools and their connections are
//! `remote_access_tools`' own evidence, reused, and the screen lock is
//! `security_control_health`'s.

pub mod assignment;
pub mod devices;
pub mod posture;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use serde::Deserialize;

use crate::catalog::{Catalog, Category};
use crate::policy::Assignment;
use crate::table::{
    text, Column, ColumnType, GenerateContext, QueryContext, Row, Table, TableOutput,
};

pub struct LaptopFarmSignals;

const COLUMNS: &[Column] = &[
    Column::new("signal", ColumnType::Text, "The trait: timezone, language, keyboard_layout, input_method_configured, input_method_installed, consumer_vpn, proxy_tool, ip_kvm, capture_device, jiggler_device, programmable_hid_board, usb_gadget, usbip, virtual_input_device, lid_closed_external_display, always_on_ac, sleep_disabled, screen_lock_disabled, long_uptime, keep_awake_software, remote_session, remote_access_tool; or score, the summary row."),
    Column::new("category", ColumnType::Text, "assignment_drift, vpn_proxy, hardware, shelf_posture, keep_awake, remote_session; summary for the score row."),
    Column::new("status", ColumnType::Text, "present (found), unknown (its source is missing or unreadable: weight NULL, not 0); on the score row the verdict, investigate (score at or over the threshold) or clear."),
    Column::new("weight", ColumnType::Integer, "What the signal adds to the score (catalog/laptop_farm/signals.json); NULL when unknown. On the score row the total: each signal counts once, at its highest weight."),
    Column::new("evidence", ColumnType::Text, "What was read, in a sentence a person can check on the host; on the score row, what made the score and what could not be checked."),
    Column::new("observed", ColumnType::Text, "What the host shows (a time zone, a language, a tool, a device)."),
    Column::new("expected", ColumnType::Text, "What the policy's assignment expects, for drift signals; the threshold on the score row."),
    Column::new("confidence", ColumnType::Text, "high, medium or low: how much the trait alone says."),
    Column::new("path", ColumnType::Text, "The file, device or process behind the evidence."),
];

#[derive(Debug, Deserialize)]
struct SignalsFile {
    threshold: i64,
    severity_weights: BTreeMap<String, i64>,
    signals: Vec<SignalDef>,
    layouts: Layouts,
}

#[derive(Debug, Deserialize)]
struct SignalDef {
    id: String,
    category: String,
    weight: Option<i64>,
    confidence: String,
}

#[derive(Debug, Deserialize)]
struct Layouts {
    xkb: BTreeMap<String, Vec<String>>,
    macos: BTreeMap<String, Vec<String>>,
}

fn signals_file() -> Result<&'static SignalsFile, &'static String> {
    static FILE: LazyLock<Result<SignalsFile, String>> = LazyLock::new(|| {
        let text = crate::catalog::embedded::LAPTOP_FARM
            .iter()
            .find(|(n, _)| *n == "signals.json")
            .map(|(_, t)| *t)
            .ok_or_else(|| "signals.json is not in the binary".to_string())?;
        serde_json::from_str(text).map_err(|e| format!("signals.json: {e}"))
    });
    FILE.as_ref()
}

/// Days after which uptime and AC-only running count.
const LONG_UPTIME_DAYS: i64 = 14;
const AC_ONLY_DAYS: i64 = 7;
/// Ports of inbound remote desktop sessions.
const REMOTE_DESKTOP_PORTS: std::ops::RangeInclusive<u32> = 5900..=5999;
const RDP_PORT: u32 = 3389;
/// File descriptors of one process read at most for its sockets.
const MAX_FDS: usize = 65_536;

/// A row in the making.
#[derive(Clone, Debug)]
struct Signal {
    id: &'static str,
    status: &'static str,
    weight: Option<i64>,
    evidence: String,
    observed: String,
    expected: String,
    confidence: String,
    path: String,
}

struct Builder<'a> {
    defs: &'a SignalsFile,
    out: Vec<Signal>,
    /// Never read: what `present` hands back if the push were lost.
    spare: Signal,
}

impl Builder<'_> {
    fn def(&self, id: &str) -> Option<&SignalDef> {
        self.defs.signals.iter().find(|d| d.id == id)
    }

    fn present(
        &mut self,
        id: &'static str,
        weight: Option<i64>,
        evidence: String,
        observed: String,
        path: String,
    ) -> &mut Signal {
        let def_weight = self.def(id).and_then(|d| d.weight);
        let confidence = self
            .def(id)
            .map(|d| d.confidence.clone())
            .unwrap_or_default();
        self.out.push(Signal {
            id,
            status: "present",
            weight: weight.or(def_weight),
            evidence,
            observed,
            expected: String::new(),
            confidence,
            path,
        });
        let last = self.out.len().saturating_sub(1);
        self.out.get_mut(last).unwrap_or(&mut self.spare)
    }

    fn unknown(&mut self, id: &'static str, why: String) {
        self.out.push(Signal {
            id,
            status: "unknown",
            weight: None,
            evidence: why,
            observed: String::new(),
            expected: String::new(),
            confidence: String::new(),
            path: String::new(),
        });
    }
}

/// Rows of another table, by column name.
struct SubRows {
    columns: Vec<&'static str>,
    rows: Vec<Row>,
}

impl SubRows {
    fn run(
        table: &dyn Table,
        ctx: &GenerateContext<'_>,
        context: &str,
        warnings: &mut Vec<String>,
    ) -> SubRows {
        let columns = table.columns().iter().map(|c| c.name).collect();
        let rows = match QueryContext::parse(context) {
            Ok(query) => {
                let sub = GenerateContext {
                    query: &query,
                    ..*ctx
                };
                let out = table.generate(&sub);
                warnings.extend(out.warnings);
                out.rows
            }
            Err(e) => {
                warnings.push(format!("internal query context: {e}"));
                Vec::new()
            }
        };
        SubRows { columns, rows }
    }

    fn get<'r>(&self, row: &'r Row, column: &str) -> &'r str {
        self.columns
            .iter()
            .position(|c| *c == column)
            .and_then(|i| row.get(i))
            .and_then(|v| v.as_deref())
            .unwrap_or("")
    }
}

fn equals_any(column: &str, values: &[&str]) -> String {
    let list: Vec<String> = values
        .iter()
        .map(|v| format!(r#"{{"op":2,"expr":"{v}"}}"#))
        .collect();
    format!(
        r#"{{"constraints":[{{"name":"{column}","list":[{}],"affinity":"TEXT"}}]}}"#,
        list.join(",")
    )
}

/// Whether a zone is allowed by the assignment: Some(true/false), or None
/// when the assignment names only countries and the zone's are unknown.
fn zone_allowed(zone: &str, a: &Assignment, countries: Option<&Vec<String>>) -> Option<bool> {
    let by_pattern = a
        .timezones
        .iter()
        .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches(zone)));
    if by_pattern {
        return Some(true);
    }
    match countries {
        Some(cs) if !a.countries.is_empty() => Some(cs.iter().any(|c| a.countries.contains(c))),
        None if !a.countries.is_empty() && a.timezones.is_empty() => None,
        _ => Some(false),
    }
}

fn expected_text(a: &Assignment) -> String {
    let mut parts = Vec::new();
    if !a.timezones.is_empty() {
        parts.push(format!("time zones {}", a.timezones.join(", ")));
    }
    if !a.countries.is_empty() {
        parts.push(format!("countries {}", a.countries.join(", ")));
    }
    if !a.languages.is_empty() {
        parts.push(format!("languages {}", a.languages.join(", ")));
    }
    parts.join("; ")
}

fn places(p: &[String]) -> String {
    p.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
}

fn assignment_signals(b: &mut Builder<'_>, a: &Assignment, setup: &assignment::Setup) {
    let expected = expected_text(a);
    // The time zone.
    if !a.timezones.is_empty() || !a.countries.is_empty() {
        match &setup.timezone {
            None => b.unknown("timezone", "no /etc/localtime link into a zoneinfo directory and no /etc/timezone: the system time zone cannot be read".into()),
            Some((zone, file)) => {
                let neutral = zone == "UTC" || zone.starts_with("Etc/");
                let countries = setup.zone_countries.get(zone);
                match zone_allowed(zone, a, countries) {
                    _ if neutral => {}
                    Some(true) => {}
                    Some(false) => {
                        let where_ = countries.map_or(String::new(), |c| format!(" ({})", c.join(", ")));
                        let s = b.present(
                            "timezone",
                            None,
                            format!("the system time zone is {zone}{where_}, set in {file}, outside the assignment"),
                            zone.clone(),
                            file.clone(),
                        );
                        s.expected = expected.clone();
                    }
                    None => b.unknown("timezone", format!("the time zone {zone} is in no zone.tab of the host, so its country is unknown, and the assignment names countries only")),
                }
            }
        }
    }
    if a.languages.is_empty() {
        return;
    }
    let allowed: BTreeSet<String> = a.languages.iter().cloned().collect();
    let expected = format!("languages {}", a.languages.join(", "));
    let identity = |l: &str| Some(vec![l.to_string()]);
    // Languages.
    if !setup.locale_read {
        b.unknown("language", "no locale configuration readable (/etc/default/locale, /etc/locale.conf, AccountsService, macOS global preferences)".into());
    } else {
        let found = assignment::drift(&setup.languages, &allowed, &identity);
        drift_row(
            b,
            "language",
            &found,
            "configured language outside the assignment",
            &|l, _, p| format!("{l} in {}", places(p)),
            &expected,
        );
    }
    // Keyboard layouts.
    let layouts = &b.defs.layouts;
    let layout_langs = |l: &str| layouts.xkb.get(l).or_else(|| layouts.macos.get(l)).cloned();
    if !setup.keyboard_read {
        b.unknown("keyboard_layout", "no keyboard configuration readable (/etc/default/keyboard, xorg.conf.d, AccountsService, KDE, macOS input sources)".into());
    } else {
        let found = assignment::drift(&setup.layouts, &allowed, &layout_langs);
        drift_row(
            b,
            "keyboard_layout",
            &found,
            "keyboard layout for a language outside the assignment",
            &|l, langs, p| format!("{l} ({}) in {}", langs.join("/"), places(p)),
            &expected,
        );
    }
    // Input methods: configured, then installed for other languages.
    let configured = assignment::drift(&setup.methods_configured, &allowed, &identity);
    drift_row(
        b,
        "input_method_configured",
        &configured,
        "input method configured for a language outside the assignment",
        &|l, _, p| format!("{l}: {}", places(p)),
        &expected,
    );
    let installed: Vec<_> = assignment::drift(&setup.methods_installed, &allowed, &identity)
        .into_iter()
        .filter(|(l, ..)| !setup.methods_configured.contains_key(*l))
        .collect();
    drift_row(
        b,
        "input_method_installed",
        &installed,
        "input method installed for a language outside the assignment (not seen configured)",
        &|l, _, p| format!("{l}: {}", places(p)),
        &expected,
    );
}

/// Words one drifted item: (item, its languages, where it is configured).
type ItemWords = dyn Fn(&str, &[String], &[String]) -> String;

/// One drift row for what [`assignment::drift`] found, if anything:
/// `item` words each (item, languages, places).
fn drift_row(
    b: &mut Builder<'_>,
    id: &'static str,
    found: &[(&str, Vec<String>, &[String])],
    what: &str,
    item: &ItemWords,
    expected: &str,
) {
    if found.is_empty() {
        return;
    }
    let observed: Vec<&str> = found.iter().map(|(l, ..)| *l).collect();
    let evidence: Vec<String> = found
        .iter()
        .map(|(l, langs, p)| item(l, langs, p))
        .collect();
    let path = found
        .first()
        .and_then(|(_, _, p)| p.first())
        .cloned()
        .unwrap_or_default();
    let s = b.present(
        id,
        None,
        format!("{what}: {}", evidence.join("; ")),
        observed.join(","),
        path,
    );
    s.expected = expected.to_string();
}

/// The consumer VPN, proxy and keep-awake tools, one row per tool.
fn tool_signals(b: &mut Builder<'_>, ctx: &GenerateContext<'_>, catalog: &Catalog) {
    let policy = &ctx.policy.policy;
    let vpn_approved = policy.functions.get("vpn").and_then(|r| r.approved.clone());
    let hits = devices::find_tools(ctx.root, ctx.host, catalog);
    let mut by_tool: BTreeMap<usize, Vec<&devices::ToolHit>> = BTreeMap::new();
    for h in &hits {
        by_tool.entry(h.tool).or_default().push(h);
    }
    for (idx, found) in by_tool {
        let Some(tool) = catalog.tool(idx) else {
            continue;
        };
        if policy.farm_approved.contains(&tool.id)
            || vpn_approved.as_deref() == Some(tool.id.as_str())
        {
            continue;
        }
        let id = match tool.category {
            Category::Vpn => "consumer_vpn",
            Category::Proxy => "proxy_tool",
            Category::KeepAwake => "keep_awake_software",
            _ => continue,
        };
        let weight = b.defs.severity_weights.get(tool.severity.as_str()).copied();
        let running = found.iter().any(|h| h.running);
        let evidence: Vec<&str> = found.iter().take(4).map(|h| h.evidence.as_str()).collect();
        let path = found.first().map(|h| h.path.clone()).unwrap_or_default();
        let s = b.present(
            id,
            weight,
            format!(
                "{} ({}){}: {}",
                tool.name,
                tool.vendor,
                if running { ", running now" } else { "" },
                evidence.join("; ")
            ),
            tool.id.clone(),
            path,
        );
        s.expected = "not installed, or approved in laptop_farm.approved".into();
        // Files alone (an install path, a user's configuration) say less
        // than a package or a running process.
        if found
            .iter()
            .all(|h| matches!(h.evidence_type, "file" | "config"))
        {
            s.confidence = "medium".into();
        }
    }
}

impl Table for LaptopFarmSignals {
    fn name(&self) -> &'static str {
        "laptop_farm_signals"
    }

    fn description(&self) -> &'static str {
        "Traits of a laptop farm on this host (assignment drift, consumer VPNs and proxies, remote-control hardware, shelf posture, keep-awake software, remote sessions now), each with its weight, and a score row with the total and a verdict: a reason to look, not proof."
    }

    fn platforms(&self) -> &'static [&'static str] {
        &["linux", "darwin"]
    }

    fn columns(&self) -> &'static [Column] {
        COLUMNS
    }

    fn generate(&self, ctx: &GenerateContext<'_>) -> TableOutput {
        let mut warnings = Vec::new();
        let defs = match signals_file() {
            Ok(d) => d,
            Err(e) => {
                warnings.push(e.clone());
                return TableOutput {
                    rows: Vec::new(),
                    warnings,
                };
            }
        };
        let mut b = Builder {
            defs,
            out: Vec::new(),
            spare: Signal {
                id: "",
                status: "",
                weight: None,
                evidence: String::new(),
                observed: String::new(),
                expected: String::new(),
                confidence: String::new(),
                path: String::new(),
            },
        };
        let root = ctx.root;
        let policy = &ctx.policy.policy;
        let homes: Vec<String> = ctx
            .host
            .accounts()
            .homes
            .iter()
            .map(|(h, _)| h.clone())
            .collect();
        let now = ctx.now;

        // Assignment drift: only against a policy, never a guess.
        if let Some(a) = &policy.assignment {
            let setup = assignment::read(root, &homes, &defs.layouts.macos, &mut warnings);
            assignment_signals(&mut b, a, &setup);
        }

        // Consumer VPNs, proxies, keep-awake software.
        match Catalog::laptop_farm() {
            Ok(catalog) => tool_signals(&mut b, ctx, catalog),
            Err(e) => warnings.push(e.to_string()),
        }

        // remote_access_tools' evidence: IP-KVMs, remote access tools and
        // their relay connections.
        let rat = SubRows::run(
            &crate::tables::remote_access_tools::RemoteAccessTools,
            ctx,
            &equals_any(
                "evidence_type",
                &["process", "package", "app_bundle", "usb_device"],
            ),
            &mut warnings,
        );
        let mut kvm_paths: BTreeSet<String> = BTreeSet::new();
        // pid -> (tool id, name) of the remote access tools running.
        let mut tool_pids: BTreeMap<i64, (String, String)> = BTreeMap::new();
        let mut tools_seen: BTreeMap<String, (String, String, String, String)> = BTreeMap::new();
        let mut sessions_now: Vec<(String, String, String)> = Vec::new();
        for row in &rat.rows {
            let (id, name, category) = (
                rat.get(row, "tool_id"),
                rat.get(row, "name"),
                rat.get(row, "category"),
            );
            if id.is_empty() || rat.get(row, "approved") == "1" {
                continue;
            }
            let (kind, evidence, path) = (
                rat.get(row, "evidence_type"),
                rat.get(row, "evidence"),
                rat.get(row, "path"),
            );
            if let (Ok(pid), "process") = (rat.get(row, "pid").parse::<i64>(), kind) {
                tool_pids
                    .entry(pid)
                    .or_insert_with(|| (id.to_string(), name.to_string()));
            }
            if category == "ip_kvm" {
                if kind == "usb_device" {
                    kvm_paths.insert(path.to_string());
                }
                tools_seen.entry(format!("ip_kvm:{id}")).or_insert_with(|| {
                    (
                        name.to_string(),
                        evidence.to_string(),
                        path.to_string(),
                        id.to_string(),
                    )
                });
            } else if matches!(
                category,
                "remote_desktop" | "rmm" | "vnc_server" | "rdp_server"
            ) {
                tools_seen.entry(format!("remote:{id}")).or_insert_with(|| {
                    (
                        name.to_string(),
                        evidence.to_string(),
                        path.to_string(),
                        id.to_string(),
                    )
                });
            }
        }
        for (key, (name, evidence, path, id)) in &tools_seen {
            if key.starts_with("ip_kvm:") {
                b.present(
                    "ip_kvm",
                    None,
                    format!("{name}: {evidence}"),
                    id.clone(),
                    path.clone(),
                );
            }
        }

        // USB devices of the device catalog, and virtual input devices.
        match devices::device_catalog() {
            Ok(dc) => {
                let usb_dir = crate::root::paths::SYS_USB_DEVICES;
                match root.metadata(usb_dir) {
                    Ok(m) if m.is_dir() => {
                        for dev in crate::host::usb::usb_devices(root) {
                            let path = crate::root::join(usb_dir, &dev.name);
                            if kvm_paths.contains(&path) {
                                continue;
                            }
                            let Some(d) = dc
                                .devices
                                .iter()
                                .find(|d| d.usb.iter().any(|u| devices::usb_matches(u, &dev)))
                            else {
                                continue;
                            };
                            let id = match (d.kind.as_str(), d.generic) {
                                ("capture", _) => "capture_device",
                                ("jiggler", true) => "programmable_hid_board",
                                ("jiggler", false) => "jiggler_device",
                                ("hid_gadget", _) => "usb_gadget",
                                ("usbip", _) => "usbip",
                                _ => continue,
                            };
                            b.present(
                                id,
                                None,
                                format!(
                                    "USB device {} {}:{} \"{}\" \"{}\" is {} (identities can be changed: confirm physically)",
                                    dev.name, dev.vendor_id, dev.product_id, dev.manufacturer, dev.product, d.name
                                ),
                                d.id.clone(),
                                path,
                            );
                        }
                    }
                    other => {
                        let why = match other {
                            _ if root.is_macos() => format!("{usb_dir} does not exist on macOS: USB devices are in the I/O Registry, not in files"),
                            Err(e) if e.is_not_found() => format!("no {usb_dir}: no USB bus is visible (a virtual machine or a container)"),
                            Err(e) => e.to_string(),
                            Ok(_) => format!("{usb_dir} is not a directory"),
                        };
                        for id in ["capture_device", "jiggler_device", "usb_gadget", "usbip"] {
                            b.unknown(id, why.clone());
                        }
                    }
                }
                match root.read_string_capped("/proc/bus/input/devices", 1 << 20) {
                    Ok(text) => {
                        for name in devices::input_device_names(&text) {
                            if let Some(v) = dc.virtual_input.iter().find(|v| {
                                v.names
                                    .iter()
                                    .any(|k| devices::virtual_input_matches(k, &name))
                            }) {
                                b.present(
                                    "virtual_input_device",
                                    (v.generic).then_some(5),
                                    format!(
                                        "input device \"{name}\" is a virtual device of {}",
                                        v.tool
                                    ),
                                    name.clone(),
                                    "/proc/bus/input/devices".into(),
                                );
                            }
                        }
                    }
                    Err(_) if root.is_macos() => b.unknown(
                        "virtual_input_device",
                        "macOS lists input devices in the I/O Registry, not in files".into(),
                    ),
                    Err(e) => b.unknown(
                        "virtual_input_device",
                        format!("input devices not readable: {e}"),
                    ),
                }
            }
            Err(e) => warnings.push(e.clone()),
        }

        // Shelf posture, for laptops.
        let p = posture::read(root, &mut warnings);
        let local_seat = p.sessions.as_ref().map(|s| {
            s.iter()
                .filter(|x| x.active && !x.remote && !x.seat.is_empty())
                .map(|x| x.user.clone())
                .collect::<Vec<_>>()
        });
        if p.laptop != Some(false) {
            if p.laptop == Some(true) {
                match (p.lid_closed, &p.external_displays) {
                    (None, _) => b.unknown("lid_closed_external_display", "no lid switch state in /proc/acpi/button/lid".into()),
                    (Some(true), Some(ext)) if !ext.is_empty() => {
                        let graphical = p.sessions.as_ref().map(|s| {
                            s.iter().any(|x| x.active && !x.remote && x.graphical())
                        });
                        if graphical != Some(false) {
                            let s = b.present(
                                "lid_closed_external_display",
                                None,
                                format!(
                                    "lid closed, external display connected on {}{}",
                                    ext.join(", "),
                                    match graphical {
                                        Some(_) => ", with a local graphical session active",
                                        None => " (no logind session information to tell whether someone is logged in)",
                                    }
                                ),
                                "lid closed".into(),
                                "/proc/acpi/button/lid".into(),
                            );
                            if graphical.is_none() {
                                s.confidence = "medium".into();
                            }
                        }
                    }
                    (Some(true), None) => b.unknown("lid_closed_external_display", "the lid is closed, but /sys/class/drm is not readable to tell whether a display is connected".into()),
                    _ => {}
                }
                match (p.on_ac, p.battery_history) {
                    (None, _) => b.unknown("always_on_ac", "no mains power supply in /sys/class/power_supply".into()),
                    (Some(true), None) => b.unknown("always_on_ac", "on AC power now, but there is no UPower history (/var/lib/upower) to tell for how long".into()),
                    (Some(true), Some((last, first))) => {
                        let span = now - first;
                        let since_battery = last.map(|l| now - l);
                        if span >= AC_ONLY_DAYS * 86_400 && since_battery.is_none_or(|d| d >= AC_ONLY_DAYS * 86_400) {
                            let days = match last {
                                Some(_) => format!("no battery use for {} days", since_battery.unwrap_or(0) / 86_400),
                                None => format!("no battery use in {} days of history", span / 86_400),
                            };
                            // observed stays the same day after day, so a
                            // differential query logs it once.
                            b.present(
                                "always_on_ac",
                                None,
                                format!("on AC power, {days} (UPower history in /var/lib/upower)"),
                                format!("no battery use for {AC_ONLY_DAYS}+ days"),
                                "/var/lib/upower".into(),
                            );
                        }
                    }
                    _ => {}
                }
                match p.uptime {
                    None => b.unknown("long_uptime", "/proc/uptime is not readable".into()),
                    Some(up) if up > LONG_UPTIME_DAYS * 86_400 => {
                        b.present(
                            "long_uptime",
                            None,
                            format!("up for {} days without a reboot", up / 86_400),
                            format!("up {LONG_UPTIME_DAYS}+ days"),
                            "/proc/uptime".into(),
                        );
                    }
                    _ => {}
                }
            } else {
                let why = if root.is_macos() {
                    "macOS keeps power, lid and display state in the I/O Registry, not in files"
                } else {
                    "whether this is a laptop cannot be read (no /sys/class/power_supply, no chassis type)"
                };
                for id in ["lid_closed_external_display", "always_on_ac", "long_uptime"] {
                    b.unknown(id, why.into());
                }
            }
            if !p.sleep_disabled.is_empty() {
                b.present(
                    "sleep_disabled",
                    None,
                    format!("sleep is disabled: {}", p.sleep_disabled.join("; ")),
                    p.sleep_disabled.first().cloned().unwrap_or_default(),
                    String::new(),
                );
            }
            let lock = SubRows::run(
                &crate::tables::security_control_health::SecurityControlHealth,
                ctx,
                &equals_any("control", &["screen_lock"]),
                &mut warnings,
            );
            for row in &lock.rows {
                if lock.get(row, "status") == "fail" {
                    b.present(
                        "screen_lock_disabled",
                        None,
                        lock.get(row, "evidence").to_string(),
                        "screen lock off".into(),
                        String::new(),
                    );
                }
            }
        }

        // Remote sessions now: a running remote access tool connected to
        // its relay servers (its own sockets only: a few fd lists, not an
        // fd scan of every process), inbound VNC/RDP connections, remote
        // graphical logind sessions.
        // Reading the kernel's TCP tables costs milliseconds on a machine
        // with much memory (the kernel walks its whole hash table): only
        // when a remote access tool or a VNC/RDP server is running.
        let established = if tool_pids.is_empty() {
            Vec::new()
        } else {
            crate::host::sockets::established(root)
        };
        if let Ok(catalog) = Catalog::embedded() {
            for (pid, (id, name)) in &tool_pids {
                let Some(tool) = catalog.index_of(id) else {
                    continue;
                };
                let inodes: BTreeSet<u64> =
                    crate::host::processes::socket_inodes(root, *pid, MAX_FDS)
                        .into_iter()
                        .collect();
                if let Some(c) = established.iter().find(|c| {
                    inodes.contains(&c.inode)
                        && catalog.by_relay_port(c.remote_port, "tcp").contains(&tool)
                }) {
                    sessions_now.push((
                        name.clone(),
                        format!(
                            "pid {pid} holds a connection to {}:{}, the port of its relay servers",
                            c.remote_address, c.remote_port
                        ),
                        format!("/proc/{pid}"),
                    ));
                }
            }
        }
        for c in &established {
            if REMOTE_DESKTOP_PORTS.contains(&c.local_port) || c.local_port == RDP_PORT {
                sessions_now.push((
                    if c.local_port == RDP_PORT {
                        "RDP"
                    } else {
                        "VNC"
                    }
                    .to_string(),
                    format!(
                        "inbound connection to port {} from {}:{}",
                        c.local_port, c.remote_address, c.remote_port
                    ),
                    "/proc/net/tcp".into(),
                ));
            }
        }
        for s in p
            .sessions
            .iter()
            .flatten()
            .filter(|s| s.remote && s.graphical())
        {
            sessions_now.push((
                format!("remote {} session", s.kind),
                format!(
                    "logind session {} of {} ({}) from {}",
                    s.id,
                    s.user,
                    s.service,
                    if s.remote_host.is_empty() {
                        "a remote host"
                    } else {
                        &s.remote_host
                    }
                ),
                format!("/run/systemd/sessions/{}", s.id),
            ));
        }
        let with_seat = local_seat.as_ref().is_some_and(|u| !u.is_empty());
        for (name, evidence, path) in &sessions_now {
            let s = b.present(
                "remote_session",
                Some(if with_seat { 25 } else { 15 }),
                format!(
                    "{name}: {evidence}{}",
                    if with_seat {
                        "; a local seat session is active at the same time"
                    } else {
                        ""
                    }
                ),
                name.clone(),
                path.clone(),
            );
            if !with_seat {
                s.confidence = "medium".into();
            }
        }
        for (key, (name, evidence, path, id)) in &tools_seen {
            if key.starts_with("remote:") {
                b.present(
                    "remote_access_tool",
                    None,
                    format!("{name}: {evidence}"),
                    id.clone(),
                    path.clone(),
                );
            }
        }

        // The score: each signal once, at its highest weight.
        let mut best: BTreeMap<&str, i64> = BTreeMap::new();
        for s in b.out.iter().filter(|s| s.status == "present") {
            let w = s.weight.unwrap_or(0);
            let e = best.entry(s.id).or_insert(0);
            *e = (*e).max(w);
        }
        let total: i64 = best.values().sum();
        let threshold = policy.farm_threshold.unwrap_or(defs.threshold);
        let categories: BTreeSet<&str> = best
            .keys()
            .filter_map(|id| b.def(id).map(|d| d.category.as_str()))
            .collect();
        let unknown: BTreeSet<&str> = b
            .out
            .iter()
            .filter(|s| s.status == "unknown")
            .map(|s| s.id)
            .collect();
        let mut parts: Vec<(&str, i64)> = best.iter().map(|(k, v)| (*k, *v)).collect();
        parts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
        let verdict = if total >= threshold {
            "investigate"
        } else {
            "clear"
        };
        let mut evidence = format!(
            "score {total} {} threshold {threshold}: {}",
            if total >= threshold { "≥" } else { "<" },
            if parts.is_empty() {
                "no signal found".to_string()
            } else {
                parts
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
        if !unknown.is_empty() {
            evidence.push_str(&format!(
                "; not checked (source missing or unreadable): {}",
                unknown.iter().copied().collect::<Vec<_>>().join(", ")
            ));
        }
        if policy.assignment.is_none() {
            evidence.push_str("; no assignment in the policy, so no drift signal");
        }
        let confidence = match categories.len() {
            0 | 1 => "low",
            2 => "medium",
            _ => "high",
        };

        let mut rows: Vec<Row> = Vec::new();
        for s in &b.out {
            let category = b.def(s.id).map(|d| d.category.as_str()).unwrap_or("");
            rows.push(vec![
                text(s.id),
                text(category),
                text(s.status),
                s.weight.map(|w| w.to_string()),
                text(s.evidence.clone()),
                text(s.observed.clone()),
                text(s.expected.clone()),
                text(s.confidence.clone()),
                text(s.path.clone()),
            ]);
        }
        rows.push(vec![
            text("score"),
            text("summary"),
            text(verdict),
            Some(total.to_string()),
            text(evidence),
            Some(total.to_string()),
            text(format!("< {threshold}")),
            text(confidence),
            None,
        ]);
        rows.retain(|r| {
            let col = |i: usize| r.get(i).and_then(|v| v.as_deref()).unwrap_or("");
            ctx.query.admits("signal", col(0))
                && ctx.query.admits("category", col(1))
                && ctx.query.admits("status", col(2))
        });
        TableOutput { rows, warnings }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// Every signal the code raises has its weight, category and reasoning
    /// in signals.json, and the catalogs load.
    #[test]
    fn the_data_files_cover_every_signal() {
        let defs = signals_file().unwrap();
        let column = COLUMNS[0].description;
        for id in [
            "timezone",
            "language",
            "keyboard_layout",
            "input_method_configured",
            "input_method_installed",
            "consumer_vpn",
            "proxy_tool",
            "ip_kvm",
            "capture_device",
            "jiggler_device",
            "programmable_hid_board",
            "usb_gadget",
            "usbip",
            "virtual_input_device",
            "lid_closed_external_display",
            "always_on_ac",
            "sleep_disabled",
            "screen_lock_disabled",
            "long_uptime",
            "keep_awake_software",
            "remote_session",
            "remote_access_tool",
        ] {
            let def = defs
                .signals
                .iter()
                .find(|d| d.id == id)
                .unwrap_or_else(|| panic!("{id}"));
            assert!(
                !def.category.is_empty() && !def.confidence.is_empty(),
                "{id}"
            );
            assert!(column.contains(id), "{id} is not in the column description");
        }
        assert!(defs.threshold > 40, "no single trait reaches the threshold");
        assert!(defs
            .signals
            .iter()
            .filter_map(|d| d.weight)
            .all(|w| w < defs.threshold));
        let catalog = Catalog::laptop_farm().unwrap();
        let astrill = catalog.tool(catalog.index_of("astrill").unwrap()).unwrap();
        assert_eq!(astrill.category, Category::Vpn);
        assert!(
            catalog.tools.iter().all(|t| !t.references.is_empty()),
            "every entry cites a source"
        );
        assert!(catalog.tools.iter().all(|t| matches!(
            t.category,
            Category::Vpn | Category::Proxy | Category::KeepAwake
        )));
        let devices = devices::device_catalog().unwrap();
        assert!(devices.devices.iter().all(|d| matches!(
            d.kind.as_str(),
            "capture" | "jiggler" | "hid_gadget" | "usbip"
        )));
    }

    #[test]
    fn zones_against_the_assignment() {
        let a = Assignment {
            countries: vec!["US".into()],
            timezones: vec!["Europe/London".into()],
            languages: vec![],
        };
        let us = vec!["US".to_string()];
        let kr = vec!["KR".to_string()];
        assert_eq!(zone_allowed("America/Chicago", &a, Some(&us)), Some(true));
        assert_eq!(zone_allowed("Europe/London", &a, None), Some(true));
        assert_eq!(zone_allowed("Asia/Seoul", &a, Some(&kr)), Some(false));
        // Only countries and an unknown zone: cannot tell.
        let only = Assignment {
            timezones: vec![],
            ..a.clone()
        };
        assert_eq!(zone_allowed("Mars/Olympus", &only, None), None);
        assert_eq!(
            equals_any("evidence_type", &["a", "b"]),
            r#"{"constraints":[{"name":"evidence_type","list":[{"op":2,"expr":"a"},{"op":2,"expr":"b"}],"affinity":"TEXT"}]}"#
        );
    }
}
