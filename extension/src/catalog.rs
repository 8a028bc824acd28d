//! The remote access catalog: every tool postern knows, with the indicators
//! that reveal it on each platform.
//!
//! The catalog is data (`extension/catalog/remote_access/*.json`, schema in
//! `docs/CATALOG_SCHEMA.md`), embedded at build time and validated when first
//! used; a unit test keeps the shipped files valid. Lookups go through
//! indexes built once, so matching a process or package costs a hash lookup.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use serde::Deserialize;

use crate::table::{Column, ColumnType, Row};

pub(crate) mod embedded {
    include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    RemoteDesktop,
    Rmm,
    VncServer,
    RdpServer,
    Tunnel,
    MeshVpn,
    RemoteShell,
    IpKvm,
    /// Consumer VPN clients (laptop_farm_signals' catalog).
    Vpn,
    /// Proxy and censorship-circumvention tools (laptop_farm_signals).
    Proxy,
    /// Keep-awake and mouse-jiggler software (laptop_farm_signals).
    KeepAwake,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::RemoteDesktop => "remote_desktop",
            Category::Rmm => "rmm",
            Category::VncServer => "vnc_server",
            Category::RdpServer => "rdp_server",
            Category::Tunnel => "tunnel",
            Category::MeshVpn => "mesh_vpn",
            Category::RemoteShell => "remote_shell",
            Category::IpKvm => "ip_kvm",
            Category::Vpn => "vpn",
            Category::Proxy => "proxy",
            Category::KeepAwake => "keep_awake",
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinuxIndicators {
    #[serde(default)]
    pub process_names: Vec<String>,
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub autostart: Vec<String>,
    /// Configuration and state the tool leaves in a home, relative to it.
    #[serde(default)]
    pub home_paths: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MacIndicators {
    #[serde(default)]
    pub process_names: Vec<String>,
    #[serde(default)]
    pub bundle_ids: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub launchd: Vec<String>,
    /// Configuration and state the tool leaves in a home, relative to it.
    #[serde(default)]
    pub home_paths: Vec<String>,
    /// Apple Developer Team IDs that sign the tool's executables, for
    /// vendors whose team signs nothing but remote access software.
    #[serde(default)]
    pub team_ids: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsIndicators {
    #[serde(default)]
    pub process_names: Vec<String>,
    #[serde(default)]
    pub services: Vec<String>,
    #[serde(default)]
    pub programs: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub port: u32,
    pub protocol: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbIdentity {
    #[serde(default)]
    pub vendor_id: Option<String>,
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub manufacturer: Option<String>,
    #[serde(default)]
    pub product: Option<String>,
    #[serde(default)]
    pub serial: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub id: String,
    pub name: String,
    pub vendor: String,
    pub category: Category,
    pub severity: Severity,
    pub description: String,
    pub references: Vec<String>,
    /// Stands for any server of a protocol, for default ports that several
    /// tools share when no catalog process holds the socket.
    #[serde(default)]
    pub generic: bool,
    #[serde(default)]
    pub linux: LinuxIndicators,
    #[serde(default)]
    pub macos: MacIndicators,
    #[serde(default)]
    pub windows: WindowsIndicators,
    #[serde(default)]
    pub file_names: Vec<String>,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub usb: Vec<UsbIdentity>,
    #[serde(default)]
    pub browser_extensions: Vec<String>,
    /// Byte strings the tool's own executables carry (a rendezvous host or
    /// public key compiled in), hex-encoded so that postern's binary, which
    /// embeds the catalog, does not carry them itself.
    #[serde(default)]
    pub binary_markers_hex: Vec<String>,
    /// Ports of the tool's own relay or rendezvous servers, which its
    /// clients connect out to (RustDesk's 21116 and 21117).
    #[serde(default)]
    pub relay_ports: Vec<Port>,
}

/// Index of a tool in [`Catalog::tools`].
pub type ToolIndex = usize;

/// The validated catalog with its lookup indexes.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Vec<Tool>,
    by_id: HashMap<String, ToolIndex>,
    /// Linux and macOS executable names (exact) and Windows image names
    /// (lowercased, without `.exe`).
    by_process: HashMap<String, Vec<ToolIndex>>,
    /// Every executable name in its [`normal_name`] form, for renamed
    /// copies (`AnyDesk`, `anydesk.bin`, `anydesk-6.3`, `memfd:anydesk`).
    by_normal_name: HashMap<String, Vec<ToolIndex>>,
    by_package: HashMap<String, Vec<ToolIndex>>,
    by_bundle_id: HashMap<String, Vec<ToolIndex>>,
    by_team_id: HashMap<String, Vec<ToolIndex>>,
    /// systemd units, launchd labels and XDG autostart file names.
    by_service: HashMap<String, Vec<ToolIndex>>,
    /// Unit names, labels and autostart names with a per-install part
    /// (`screenconnect-*.service`).
    service_patterns: Vec<(glob::Pattern, ToolIndex)>,
    /// Executable names with a per-install part, matched exactly as written
    /// (case-sensitive) after the exact names found nothing.
    process_patterns: Vec<(glob::Pattern, ToolIndex)>,
    by_port: HashMap<(u32, String), Vec<ToolIndex>>,
    by_relay_port: HashMap<(u32, String), Vec<ToolIndex>>,
    by_browser_extension: HashMap<String, Vec<ToolIndex>>,
    file_patterns: Vec<(glob::Pattern, ToolIndex)>,
    /// Every tool's binary markers in one automaton, and the tool of each.
    markers: Option<aho_corasick::AhoCorasick>,
    marker_tools: Vec<ToolIndex>,
}

/// Names too generic to identify a tool by process name.
const GENERIC_NAMES: &[&str] = &[
    "agent", "server", "service", "node", "python", "python3", "java", "ssh", "sshd", "vnc",
    "client", "daemon", "helper", "update", "updater", "launcher", "main", "app",
];

#[derive(Debug)]
pub struct CatalogError(pub Vec<String>);

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid catalog: {}", self.0.join("; "))
    }
}

impl std::error::Error for CatalogError {}

fn push_index<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Vec<ToolIndex>>,
    key: K,
    idx: ToolIndex,
) {
    let entry = map.entry(key).or_default();
    if !entry.contains(&idx) {
        entry.push(idx);
    }
}

/// Endings of files that are never a program or its installer.
const NOT_PROGRAM_ENDINGS: &[&str] = &[
    "log", "txt", "conf", "cfg", "ini", "json", "xml", "yaml", "yml", "db", "sqlite", "md", "pdf",
    "png", "jpg", "jpeg", "html", "htm", "pid", "lock", "bak", "old", "msh",
];

/// Shortest binary marker: shorter strings turn up in unrelated programs.
const MIN_MARKER_LEN: usize = 12;

/// Bytes from hex text (two digits a byte). Pure.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Directories every home shares: a home path must name something below them.
const SHARED_HOME_DIRS: &[&str] = &[
    ".config",
    ".local",
    ".local/share",
    ".local/state",
    ".cache",
    "Library",
    "Library/Preferences",
    "Library/Application Support",
    "Library/Caches",
    "Library/Logs",
    "Library/LaunchAgents",
    "Library/Containers",
    "Library/Group Containers",
    "Library/Saved Application State",
];

/// Why a catalog `home_paths` entry is unusable, if it is. Pure.
fn home_path_problem(path: &str) -> Option<&'static str> {
    if path.is_empty() || path.starts_with('/') || path.starts_with('~') {
        return Some("must be relative to the home directory");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Some("has an empty, . or .. component");
    }
    if path.contains(['*', '?', '[']) {
        return Some("is a pattern; home paths are exact names");
    }
    if SHARED_HOME_DIRS.contains(&path.trim_end_matches('/')) {
        return Some("is shared by every program, not the tool's own");
    }
    None
}

/// Most components of an install path that may be patterns: each one
/// costs a directory listing.
pub const MAX_PATH_PATTERN_COMPONENTS: usize = 2;

/// Why an install path pattern is unusable, if it is: every component must
/// compile, the first must be literal (no walk of `/`), and at most
/// [`MAX_PATH_PATTERN_COMPONENTS`] may be patterns. Pure.
fn path_pattern_problem(path: &str) -> Option<String> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    if components.iter().any(|c| *c == "." || *c == "..") {
        return Some("has a . or .. component".into());
    }
    let patterns: Vec<&&str> = components.iter().filter(|c| is_pattern(c)).collect();
    if components.first().is_some_and(|c| is_pattern(c)) {
        return Some("starts with a pattern (a walk of /)".into());
    }
    if patterns.len() > MAX_PATH_PATTERN_COMPONENTS {
        return Some(format!(
            "has more than {MAX_PATH_PATTERN_COMPONENTS} pattern components"
        ));
    }
    for c in patterns {
        if let Err(e) = glob::Pattern::new(c) {
            return Some(format!("component {c:?}: {e}"));
        }
    }
    None
}

/// Endings a renamed or downloaded executable carries that say nothing of
/// what it is.
const EXECUTABLE_SUFFIXES: &[&str] = &[".appimage", ".bin", ".run", ".exe", ".app"];
/// Architecture and platform words in file names (`rustdesk-1.2.3-x86_64`).
const PLATFORM_WORDS: &[&str] = &[
    "x86_64",
    "x86-64",
    "amd64",
    "x64",
    "i386",
    "i686",
    "x86",
    "arm64",
    "aarch64",
    "armhf",
    "armv7",
    "armv7l",
    "linux",
    "macos",
    "darwin",
    "osx",
    "universal",
    "static",
    "portable",
];

/// The name an executable or download would have without its disguises:
/// lower case; no `memfd:` prefix or ` (deleted)` suffix (what
/// `/proc/PID/exe` shows for a program run from memory or deleted); no
/// executable endings; no trailing version (`-6.3`, `_1.2.3`, `-v2`) or
/// architecture words. A name made only of such parts is left whole.
/// Pure.
pub fn normal_name(name: &str) -> String {
    let mut n = name.trim().to_lowercase();
    if let Some(rest) = n.strip_suffix(" (deleted)") {
        n = rest.to_string();
    }
    if let Some(rest) = n.strip_prefix("memfd:") {
        n = rest.to_string();
    }
    loop {
        let before = n.len();
        if let Some(rest) = EXECUTABLE_SUFFIXES
            .iter()
            .find_map(|s| n.strip_suffix(s))
            .filter(|rest| !rest.is_empty())
        {
            n = rest.to_string();
        }
        // Only after a name that starts like a word: "1.2.3" stays whole.
        let named = n.starts_with(|c: char| c.is_alphabetic());
        if let Some(cut) = n.rfind(['-', '_', '.', ' ']).filter(|i| *i > 0 && named) {
            let (stem, tail) = n.split_at(cut);
            let word = tail.get(1..).unwrap_or("");
            let versionish = word
                .strip_prefix('v')
                .unwrap_or(word)
                .starts_with(|c: char| c.is_ascii_digit());
            if versionish || PLATFORM_WORDS.contains(&word) {
                n = stem.to_string();
            }
        }
        if n.len() == before {
            return n;
        }
    }
}

/// Whether a catalog name is a glob pattern (`*`, `?`, `[...]`).
pub fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// Tools of the patterns that match `name`, each once. Pure.
fn matching(patterns: &[(glob::Pattern, ToolIndex)], name: &str) -> Vec<ToolIndex> {
    let mut hits = Vec::new();
    for (pattern, idx) in patterns {
        if !hits.contains(idx) && pattern.matches(name) {
            hits.push(*idx);
        }
    }
    hits
}

/// Key for Windows image names and case-insensitive lookups.
fn windows_key(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    lower
        .strip_suffix(".exe")
        .map(str::to_string)
        .unwrap_or(lower)
}

fn is_hex4(s: &str) -> bool {
    s.len() == 4
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Catalog {
    /// Parses and validates catalog files given as `(file name, JSON text)`,
    /// collecting every problem.
    pub fn from_sources(sources: &[(&str, &str)]) -> Result<Catalog, CatalogError> {
        let mut problems = Vec::new();
        let mut tools: Vec<Tool> = Vec::new();
        for (file, text) in sources {
            match serde_json::from_str::<Vec<Tool>>(text) {
                Ok(mut parsed) => tools.append(&mut parsed),
                Err(e) => problems.push(format!("{file}: {e}")),
            }
        }
        let mut catalog = Catalog::default();
        for tool in &tools {
            validate_tool(tool, &mut problems);
        }
        for (idx, tool) in tools.iter().enumerate() {
            if catalog.by_id.insert(tool.id.clone(), idx).is_some() {
                problems.push(format!("id {:?} appears twice", tool.id));
            }
            for name in tool
                .linux
                .process_names
                .iter()
                .chain(&tool.macos.process_names)
            {
                if is_pattern(name) {
                    match glob::Pattern::new(name) {
                        Ok(p) => catalog.process_patterns.push((p, idx)),
                        Err(e) => problems.push(format!("{}: process name {name:?}: {e}", tool.id)),
                    }
                } else {
                    push_index(&mut catalog.by_process, name.clone(), idx);
                }
            }
            for name in &tool.windows.process_names {
                push_index(&mut catalog.by_process, windows_key(name), idx);
            }
            for name in tool
                .linux
                .process_names
                .iter()
                .chain(&tool.macos.process_names)
                .chain(&tool.windows.process_names)
            {
                let normal = normal_name(name);
                if !is_pattern(name) && !GENERIC_NAMES.contains(&normal.as_str()) {
                    push_index(&mut catalog.by_normal_name, normal, idx);
                }
            }
            for pkg in &tool.linux.packages {
                push_index(&mut catalog.by_package, pkg.clone(), idx);
            }
            for id in &tool.macos.bundle_ids {
                push_index(&mut catalog.by_bundle_id, id.clone(), idx);
            }
            for team in &tool.macos.team_ids {
                if team.len() != 10
                    || !team
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                {
                    problems.push(format!(
                        "{}: team id {team:?} is not 10 capital letters and digits",
                        tool.id
                    ));
                }
                if let Some(other) = catalog.by_team_id.get(team).and_then(|t| t.first()) {
                    if *other != idx {
                        problems.push(format!(
                            "{}: team id {team} is already {}'s (one tool per team)",
                            tool.id,
                            tools.get(*other).map_or("", |t| t.id.as_str())
                        ));
                    }
                }
                push_index(&mut catalog.by_team_id, team.clone(), idx);
            }
            for svc in tool
                .linux
                .services
                .iter()
                .chain(&tool.linux.autostart)
                .chain(&tool.macos.launchd)
            {
                if is_pattern(svc) {
                    match glob::Pattern::new(svc) {
                        Ok(p) => catalog.service_patterns.push((p, idx)),
                        Err(e) => problems.push(format!("{}: service {svc:?}: {e}", tool.id)),
                    }
                } else {
                    push_index(&mut catalog.by_service, svc.clone(), idx);
                }
            }
            for port in &tool.ports {
                push_index(
                    &mut catalog.by_port,
                    (port.port, port.protocol.clone()),
                    idx,
                );
            }
            for ext in &tool.browser_extensions {
                push_index(&mut catalog.by_browser_extension, ext.clone(), idx);
            }
            for port in &tool.relay_ports {
                push_index(
                    &mut catalog.by_relay_port,
                    (port.port, port.protocol.clone()),
                    idx,
                );
            }
            for pattern in &tool.file_names {
                match glob::Pattern::new(&pattern.to_ascii_lowercase()) {
                    Ok(p) => catalog.file_patterns.push((p, idx)),
                    Err(e) => problems.push(format!("{}: file_names {pattern:?}: {e}", tool.id)),
                }
            }
        }
        let mut markers = Vec::new();
        for (idx, tool) in tools.iter().enumerate() {
            for bytes in tool.binary_markers_hex.iter().filter_map(|m| decode_hex(m)) {
                markers.push(bytes);
                catalog.marker_tools.push(idx);
            }
        }
        if !markers.is_empty() {
            // A DFA: a few hundred KiB for the catalog's markers, and the
            // fastest search of the kinds (executables are read whole).
            let built = aho_corasick::AhoCorasick::builder()
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(&markers);
            match built {
                Ok(matcher) => catalog.markers = Some(matcher),
                Err(e) => problems.push(format!("binary markers: {e}")),
            }
        }
        if problems.is_empty() {
            catalog.tools = tools;
            Ok(catalog)
        } else {
            Err(CatalogError(problems))
        }
    }

    /// The catalog shipped in the binary.
    pub fn embedded() -> Result<&'static Catalog, &'static CatalogError> {
        static CATALOG: LazyLock<Result<Catalog, CatalogError>> =
            LazyLock::new(|| Catalog::from_sources(embedded::REMOTE_ACCESS));
        CATALOG.as_ref()
    }

    /// The consumer VPN, proxy and keep-awake tools laptop_farm_signals
    /// looks for, in the same format (`catalog/laptop_farm/`, every file but
    /// the signal weights and the device identities).
    pub fn laptop_farm() -> Result<&'static Catalog, &'static CatalogError> {
        static CATALOG: LazyLock<Result<Catalog, CatalogError>> = LazyLock::new(|| {
            let tools: Vec<(&str, &str)> = embedded::LAPTOP_FARM
                .iter()
                .filter(|(name, _)| !matches!(*name, "signals.json" | "devices.json"))
                .copied()
                .collect();
            Catalog::from_sources(&tools)
        });
        CATALOG.as_ref()
    }

    pub fn tool(&self, idx: ToolIndex) -> Option<&Tool> {
        self.tools.get(idx)
    }

    pub fn index_of(&self, id: &str) -> Option<ToolIndex> {
        self.by_id.get(id).copied()
    }

    /// Tools whose executable is called `name` (Linux/macOS exact, or a
    /// Windows image name in any case).
    pub fn by_process_name(&self, name: &str) -> &[ToolIndex] {
        if let Some(hits) = self.by_process.get(name) {
            return hits;
        }
        if name.to_ascii_lowercase().ends_with(".exe") {
            return self
                .by_process
                .get(&windows_key(name))
                .map_or(&[], Vec::as_slice);
        }
        &[]
    }

    /// Tools whose executable is called `name` once both are in their
    /// [`normal_name`] form: case, version and architecture suffixes,
    /// `.bin`/`.AppImage`/`.run`/`.exe` and `memfd:`/` (deleted)` aside.
    /// Weaker than [`by_process_name`](Self::by_process_name), which it
    /// does not repeat: callers try that first.
    pub fn by_normal_name(&self, name: &str) -> &[ToolIndex] {
        self.by_normal_name
            .get(&normal_name(name))
            .map_or(&[], Vec::as_slice)
    }

    /// The automaton of every tool's binary markers, with the tool each
    /// pattern belongs to (pattern id -> tool), if any tool has markers.
    pub fn binary_markers(&self) -> Option<(&aho_corasick::AhoCorasick, &[ToolIndex])> {
        self.markers
            .as_ref()
            .map(|m| (m, self.marker_tools.as_slice()))
    }

    pub fn by_package(&self, name: &str) -> &[ToolIndex] {
        self.by_package.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn by_bundle_id(&self, id: &str) -> &[ToolIndex] {
        self.by_bundle_id.get(id).map_or(&[], Vec::as_slice)
    }

    /// The tools a code signature names: by its signing identifier (a
    /// catalog bundle id), else by its team.
    pub fn by_signature(&self, signature: &crate::host::macho::Signature) -> Vec<ToolIndex> {
        let by_identifier = signature
            .identifier
            .as_deref()
            .map(|id| self.by_bundle_id(id).to_vec())
            .unwrap_or_default();
        if !by_identifier.is_empty() {
            return by_identifier;
        }
        signature
            .team_id
            .as_deref()
            .map(|t| self.by_team_id(t).to_vec())
            .unwrap_or_default()
    }

    /// The tool whose vendor's Apple Developer Team signs its executables.
    pub fn by_team_id(&self, team: &str) -> &[ToolIndex] {
        self.by_team_id.get(team).map_or(&[], Vec::as_slice)
    }

    /// systemd unit, launchd label or XDG autostart file name: exact names,
    /// then patterns with a per-install part.
    pub fn by_service(&self, name: &str) -> Vec<ToolIndex> {
        if let Some(hits) = self.by_service.get(name) {
            return hits.clone();
        }
        matching(&self.service_patterns, name)
    }

    /// Tools whose executable name pattern (a per-install part, such as
    /// ScreenConnect's instance id) matches `name`. Weaker than an exact
    /// name, which callers try first.
    pub fn by_process_pattern(&self, name: &str) -> Vec<ToolIndex> {
        matching(&self.process_patterns, name)
    }

    pub fn by_port(&self, port: u32, protocol: &str) -> &[ToolIndex] {
        self.by_port
            .get(&(port, protocol.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Tools whose relay or rendezvous servers listen on this port.
    pub fn by_relay_port(&self, port: u32, protocol: &str) -> &[ToolIndex] {
        self.by_relay_port
            .get(&(port, protocol.to_string()))
            .map_or(&[], Vec::as_slice)
    }

    /// Tools that ship the browser extension with this Chrome Web Store id.
    pub fn by_browser_extension(&self, id: &str) -> &[ToolIndex] {
        self.by_browser_extension.get(id).map_or(&[], Vec::as_slice)
    }

    /// Tools whose downloads or portable binaries are called like `file_name`
    /// (case-insensitive), or whose executable has that exact name.
    pub fn by_file_name(&self, file_name: &str) -> Vec<ToolIndex> {
        let mut hits: Vec<ToolIndex> = self.by_process_name(file_name).to_vec();
        if hits.is_empty() {
            hits.extend(self.by_normal_name(file_name));
        }
        let lower = file_name.to_ascii_lowercase();
        // A log, configuration or document named like a tool is the tool's
        // trace, not the tool: patterns (`meshagent*`) skip those endings.
        let document = lower
            .rsplit_once('.')
            .is_some_and(|(_, ext)| NOT_PROGRAM_ENDINGS.contains(&ext));
        if document {
            return hits;
        }
        for (pattern, idx) in &self.file_patterns {
            if !hits.contains(idx) && pattern.matches(&lower) {
                hits.push(*idx);
            }
        }
        hits
    }

    /// Tools with a USB identity matching a device's descriptors. Identity
    /// fields absent from the catalog entry are wildcards; strings compare
    /// case-insensitively.
    pub fn by_usb(
        &self,
        vendor_id: &str,
        product_id: &str,
        manufacturer: &str,
        product: &str,
        serial: &str,
    ) -> Vec<ToolIndex> {
        let eq = |want: &Option<String>, have: &str| {
            want.as_ref()
                .is_none_or(|w| w.eq_ignore_ascii_case(have.trim()))
        };
        let mut hits = Vec::new();
        for (idx, tool) in self.tools.iter().enumerate() {
            let matched = tool.usb.iter().any(|u| {
                eq(&u.vendor_id, vendor_id)
                    && eq(&u.product_id, product_id)
                    && eq(&u.manufacturer, manufacturer)
                    && eq(&u.product, product)
                    && eq(&u.serial, serial)
            });
            if matched {
                hits.push(idx);
            }
        }
        hits
    }
}

const LISTING_COLUMNS: &[Column] = &[
    Column::new("id", ColumnType::Text, "Tool id, as used in the policy."),
    Column::new("name", ColumnType::Text, "Product name."),
    Column::new("vendor", ColumnType::Text, "Vendor."),
    Column::new("category", ColumnType::Text, "Category."),
    Column::new("severity", ColumnType::Text, "Severity when unapproved."),
];

impl Catalog {
    /// The catalog as rows, for `postern catalog`.
    pub fn listing(&self) -> (&'static [Column], Vec<Row>) {
        let rows = self
            .tools
            .iter()
            .map(|t| {
                vec![
                    Some(t.id.clone()),
                    Some(t.name.clone()),
                    Some(t.vendor.clone()),
                    Some(t.category.as_str().to_string()),
                    Some(t.severity.as_str().to_string()),
                ]
            })
            .collect();
        (LISTING_COLUMNS, rows)
    }
}

fn validate_tool(tool: &Tool, problems: &mut Vec<String>) {
    let id = &tool.id;
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        problems.push(format!("id {id:?} must match [a-z0-9_]+"));
    }
    for (field, value) in [
        ("name", &tool.name),
        ("vendor", &tool.vendor),
        ("description", &tool.description),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{id}: {field} is empty"));
        }
    }
    if tool.references.is_empty() {
        problems.push(format!("{id}: references is empty (facts need a source)"));
    }
    for url in &tool.references {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            problems.push(format!("{id}: reference {url:?} is not a URL"));
        }
    }
    let process_names = tool
        .linux
        .process_names
        .iter()
        .chain(&tool.macos.process_names)
        .chain(&tool.windows.process_names);
    for name in process_names {
        let key = windows_key(name);
        if name.trim().is_empty() || name.contains('/') || GENERIC_NAMES.contains(&key.as_str()) {
            problems.push(format!(
                "{id}: process name {name:?} is empty, a path or too generic"
            ));
        }
    }
    for path in tool.linux.paths.iter().chain(&tool.macos.paths) {
        if !path.starts_with('/') || path == "/" {
            problems.push(format!(
                "{id}: path {path:?} is not an absolute install path"
            ));
        }
        if let Some(why) = path_pattern_problem(path) {
            problems.push(format!("{id}: path {path:?} {why}"));
        }
    }
    for marker in &tool.binary_markers_hex {
        match decode_hex(marker) {
            Some(bytes) if bytes.len() >= MIN_MARKER_LEN => {}
            Some(_) => problems.push(format!(
                "{id}: binary marker {marker:?} is shorter than {MIN_MARKER_LEN} bytes"
            )),
            None => problems.push(format!("{id}: binary marker {marker:?} is not hex")),
        }
    }
    for path in tool.linux.home_paths.iter().chain(&tool.macos.home_paths) {
        if let Some(why) = home_path_problem(path) {
            problems.push(format!("{id}: home path {path:?} {why}"));
        }
    }
    for unit in &tool.linux.services {
        let known = [".service", ".socket", ".timer", ".path", ".target"];
        if !known.iter().any(|s| unit.ends_with(s)) {
            problems.push(format!("{id}: systemd unit {unit:?} has no unit suffix"));
        }
    }
    for entry in &tool.linux.autostart {
        if !entry.ends_with(".desktop") {
            problems.push(format!(
                "{id}: autostart entry {entry:?} is not a .desktop file"
            ));
        }
    }
    for port in &tool.ports {
        if port.port == 0 || port.port > 65535 || !matches!(port.protocol.as_str(), "tcp" | "udp") {
            problems.push(format!(
                "{id}: port {}/{} is invalid",
                port.port, port.protocol
            ));
        }
    }
    for usb in &tool.usb {
        for (field, value) in [
            ("vendor_id", &usb.vendor_id),
            ("product_id", &usb.product_id),
        ] {
            if let Some(v) = value {
                if !is_hex4(v) {
                    problems.push(format!(
                        "{id}: usb {field} {v:?} is not 4 lowercase hex digits"
                    ));
                }
            }
        }
        let has_ids = usb.vendor_id.is_some() && usb.product_id.is_some();
        let has_string =
            usb.manufacturer.is_some() || usb.product.is_some() || usb.serial.is_some();
        if !has_ids && !has_string {
            problems.push(format!(
                "{id}: a usb identity needs both ids or at least one string"
            ));
        }
    }
    for ext in &tool.browser_extensions {
        if ext.len() != 32 || !ext.bytes().all(|b| (b'a'..=b'p').contains(&b)) {
            problems.push(format!(
                "{id}: browser extension id {ext:?} is not 32 letters a-p"
            ));
        }
    }
    if tool.category == Category::IpKvm
        && tool.usb.is_empty()
        && tool.linux.process_names.is_empty()
    {
        problems.push(format!("{id}: an ip_kvm entry needs a usb identity"));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn names_without_their_disguises() {
        for (name, normal) in [
            ("anydesk", "anydesk"),
            ("AnyDesk", "anydesk"),
            ("anydesk.bin", "anydesk"),
            ("anydesk-6.3", "anydesk"),
            ("anydesk-6.3.0-1", "anydesk"),
            ("rustdesk.AppImage", "rustdesk"),
            ("rustdesk-1.2.3-x86_64.AppImage", "rustdesk"),
            ("RustDesk_v1.2_amd64.run", "rustdesk"),
            ("memfd:anydesk (deleted)", "anydesk"),
            ("TeamViewer.exe", "teamviewer"),
            ("chrome-remote-desktop-host", "chrome-remote-desktop-host"),
            ("x11vnc", "x11vnc"),
            // A name made only of a version is left whole.
            ("1.2.3", "1.2.3"),
            ("v2", "v2"),
        ] {
            assert_eq!(normal_name(name), normal, "{name}");
        }
    }

    #[test]
    fn logs_and_configuration_named_like_a_tool_are_not_the_tool() {
        let catalog = match Catalog::embedded() {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        assert!(!catalog.by_file_name("meshagent").is_empty());
        for name in [
            "meshagent.log",
            "meshagent.msh",
            "anydesk_trace.txt",
            "rustdesk.toml.bak",
        ] {
            assert!(catalog.by_file_name(name).is_empty(), "{name}");
        }
    }

    #[test]
    fn renamed_copies_are_found_by_their_normal_name() {
        let catalog = test_catalog();
        let anydesk = catalog.by_process_name("anydesk").to_vec();
        assert!(!anydesk.is_empty());
        for renamed in ["AnyDesk", "anydesk.bin", "anydesk-6.3", "memfd:anydesk"] {
            assert!(catalog.by_process_name(renamed).is_empty() || renamed == "AnyDesk");
            assert_eq!(
                catalog.by_normal_name(renamed),
                anydesk.as_slice(),
                "{renamed}"
            );
        }
        // Generic words never identify a tool, however they are dressed.
        assert!(catalog.by_normal_name("Agent-2.0").is_empty());
        assert!(catalog.by_normal_name("update.bin").is_empty());
    }
    use std::collections::BTreeSet;

    /// A small catalog for unit and scenario tests, independent of the
    /// shipped data.
    pub const TEST_CATALOG: &str = r#"[
      {"id":"anydesk","name":"AnyDesk","vendor":"AnyDesk Software GmbH","category":"remote_desktop",
       "severity":"high","description":"Remote desktop.","references":["https://example.com/anydesk"],
       "linux":{"process_names":["anydesk"],"packages":["anydesk"],"paths":["/usr/bin/anydesk"],
                "services":["anydesk.service"],"autostart":["anydesk.desktop"]},
       "macos":{"process_names":["AnyDesk"],"bundle_ids":["com.philandro.anydesk"],
                "launchd":["com.philandro.anydesk.service"]},
       "windows":{"process_names":["AnyDesk.exe"]},
       "file_names":["anydesk*.tar.gz","AnyDesk*.exe"],
       "ports":[{"port":7070,"protocol":"tcp"}]},
      {"id":"chrome_remote_desktop","name":"Chrome Remote Desktop","vendor":"Google","category":"remote_desktop",
       "severity":"high","description":"Remote desktop.","references":["https://example.com/crd"],
       "linux":{"process_names":["chrome-remote-desktop-host"],"packages":["chrome-remote-desktop"],
                "services":["chrome-remote-desktop@.service"]}},
      {"id":"tailscale","name":"Tailscale","vendor":"Tailscale Inc.","category":"mesh_vpn",
       "severity":"medium","description":"Mesh VPN.","references":["https://example.com/ts"],
       "linux":{"process_names":["tailscaled"],"packages":["tailscale"],"services":["tailscaled.service"]},
       "ports":[{"port":41641,"protocol":"udp"}]},
      {"id":"x11vnc","name":"x11vnc","vendor":"Karl Runge","category":"vnc_server",
       "severity":"high","description":"VNC server.","references":["https://example.com/x11vnc"],
       "linux":{"process_names":["x11vnc"],"packages":["x11vnc"]},
       "ports":[{"port":5900,"protocol":"tcp"}]},
      {"id":"pikvm","name":"PiKVM","vendor":"PiKVM","category":"ip_kvm",
       "severity":"high","description":"IP-KVM.","references":["https://example.com/pikvm"],
       "usb":[{"manufacturer":"PiKVM"},{"vendor_id":"1d6b","product_id":"0104","product":"PiKVM Composite Device"}]}
    ]"#;

    pub fn test_catalog() -> Catalog {
        match Catalog::from_sources(&[("test.json", TEST_CATALOG)]) {
            Ok(c) => c,
            Err(e) => unreachable!("test catalog invalid: {e}"),
        }
    }

    #[test]
    fn shipped_catalog_is_valid_and_large_enough() {
        let catalog = match Catalog::embedded() {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        assert!(
            catalog.tools.len() >= 100,
            "only {} tools",
            catalog.tools.len()
        );
        let categories: BTreeSet<Category> = catalog.tools.iter().map(|t| t.category).collect();
        for required in [
            Category::RemoteDesktop,
            Category::Rmm,
            Category::VncServer,
            Category::RdpServer,
            Category::Tunnel,
            Category::MeshVpn,
            Category::IpKvm,
        ] {
            assert!(categories.contains(&required), "no {required:?} tool");
        }
        for id in [
            "anydesk",
            "teamviewer",
            "rustdesk",
            "chrome_remote_desktop",
            "ngrok",
            "cloudflared",
            "tailscale",
            "zerotier",
            "xrdp",
            "x11vnc",
            "pikvm",
            "tinypilot",
            "jetkvm",
        ] {
            assert!(catalog.index_of(id).is_some(), "catalog lacks {id}");
        }
    }

    #[test]
    fn lookups() {
        let c = test_catalog();
        let id = |idx: &[ToolIndex]| -> Vec<String> {
            idx.iter()
                .filter_map(|i| c.tool(*i))
                .map(|t| t.id.clone())
                .collect()
        };
        assert_eq!(id(c.by_process_name("anydesk")), ["anydesk"]);
        assert_eq!(id(c.by_process_name("ANYDESK.EXE")), ["anydesk"]);
        assert!(
            c.by_process_name("Anydesk").is_empty(),
            "Linux names are exact"
        );
        assert_eq!(id(c.by_package("tailscale")), ["tailscale"]);
        assert_eq!(
            id(&c.by_service("chrome-remote-desktop@.service")),
            ["chrome_remote_desktop"]
        );
        assert_eq!(id(c.by_port(5900, "tcp")), ["x11vnc"]);
        assert_eq!(id(&c.by_file_name("AnyDesk_portable.EXE")), ["anydesk"]);
        assert_eq!(
            id(&c.by_file_name("anydesk-6.3.0-amd64.tar.gz")),
            ["anydesk"]
        );
        assert_eq!(
            id(&c.by_usb("1d6b", "0104", "PiKVM", "PiKVM Composite Device", "")),
            ["pikvm"]
        );
        assert_eq!(
            id(&c.by_usb("046d", "c52b", "pikvm", "Keyboard", "")),
            ["pikvm"]
        );
        assert!(c
            .by_usb("1d6b", "0104", "Linux Foundation", "Composite", "")
            .is_empty());
    }

    #[test]
    fn invalid_catalogs_report_every_problem() {
        let bad = r#"[
          {"id":"Bad Id","name":"","vendor":"v","category":"remote_desktop","severity":"high",
           "description":"d","references":[],"linux":{"process_names":["agent"],"services":["x"]},
           "usb":[{"vendor_id":"XYZ"}],"browser_extensions":["short"]},
          {"id":"dup","name":"n","vendor":"v","category":"tunnel","severity":"low","description":"d",
           "references":["https://x"],"ports":[{"port":70000,"protocol":"sctp"}]},
          {"id":"dup","name":"n","vendor":"v","category":"tunnel","severity":"low","description":"d",
           "references":["https://x"]}
        ]"#;
        let err = match Catalog::from_sources(&[("bad.json", bad)]) {
            Ok(_) => unreachable!("bad catalog accepted"),
            Err(e) => e,
        };
        let text = err.to_string();
        for needle in [
            "Bad Id",
            "name is empty",
            "references is empty",
            "\"agent\"",
            "unit suffix",
            "XYZ",
            "short",
            "70000",
            "appears twice",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
        let unknown_key = r#"[{"id":"a","name":"n","vendor":"v","category":"rmm","severity":"low",
            "description":"d","references":["https://x"],"linux":{"procs":["a"]}}]"#;
        assert!(Catalog::from_sources(&[("u.json", unknown_key)]).is_err());
    }
    fn one_tool(linux: &str, macos: &str) -> String {
        format!(
            r#"[{{"id":"sc","name":"ScreenConnect","vendor":"v","category":"rmm","severity":"high",
            "description":"d","references":["https://x"],"linux":{linux},"macos":{macos}}}]"#
        )
    }

    #[test]
    fn names_with_a_per_install_part_are_patterns() {
        let text = one_tool(
            r#"{"process_names":["connectwisecontrol-*"],"services":["screenconnect-*.service"],
                "paths":["/opt/screenconnect-*"]}"#,
            r#"{"launchd":["screenconnect-*-onlogin"]}"#,
        );
        let c = match Catalog::from_sources(&[("p.json", &text)]) {
            Ok(c) => c,
            Err(e) => unreachable!("{e}"),
        };
        assert_eq!(c.by_service("screenconnect-0123abcd.service"), [0]);
        assert_eq!(c.by_service("screenconnect-0123abcd-onlogin"), [0]);
        assert!(c.by_service("screenconnect.socket").is_empty());
        assert_eq!(c.by_process_pattern("connectwisecontrol-99"), [0]);
        assert!(c.by_process_name("connectwisecontrol-99").is_empty());
        // A pattern is never a name to normalise.
        assert!(c.by_normal_name("connectwisecontrol-*").is_empty());
    }

    #[test]
    fn install_path_patterns_are_bounded() {
        for (path, why) in [
            ("/*/screenconnect", "starts with a pattern"),
            ("/opt/*/*/*", "more than 2 pattern components"),
            ("/opt/[x", "component"),
            ("/opt/../etc", ". or .."),
        ] {
            let text = one_tool(&format!(r#"{{"paths":["{path}"]}}"#), "{}");
            match Catalog::from_sources(&[("p.json", &text)]) {
                Ok(_) => unreachable!("{path} accepted"),
                Err(e) => assert!(e.to_string().contains(why), "{path}: {e}"),
            }
        }
        let text = one_tool(r#"{"paths":["/opt/screenconnect-*/ClientService"]}"#, "{}");
        assert!(Catalog::from_sources(&[("p.json", &text)]).is_ok());
    }
}
