//! The organisation's policy: which remote access tools are approved.
//!
//! A strict JSON file (unknown keys are errors; every problem is reported at
//! once with its key and value). Default location: `/etc/postern/policy.json`
//! on Linux, `/Library/Application Support/postern/policy.json` on macOS;
//! `--policy FILE` overrides it.
//!
//! Trust: a policy file that a non-root user could have written (not owned
//! by root, group- or world-writable, or in a directory such a user can
//! write to without the sticky bit) is refused: a writable allowlist would
//! let the insider approve their own AnyDesk. The default policy is always
//! held to this (for a mounted image, "root" is the owner of its `/`); a
//! file given with `--policy` is when postern runs as root. A refused,
//! invalid or missing policy approves nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::catalog::Catalog;
use crate::root::{paths, HostRoot};

/// Largest policy file read.
const POLICY_CAP: u64 = 1 << 20;

/// The effective policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    pub approved_remote_access: BTreeSet<String>,
    /// Security agents of which at least one must be healthy (`edr.required_any`).
    pub edr_required_any: BTreeSet<String>,
    /// Controls the organisation requires (`controls.required`).
    pub required_controls: BTreeSet<String>,
    /// When the device was handed over (`enrollment.time`), Unix seconds.
    pub enrollment_time: Option<i64>,
    /// Rules for software IT manages (`software.managed`).
    pub managed_rules: Vec<ManagedRule>,
    /// Per application function (`vpn`, `browser`, ...): whether several may
    /// be installed, and the approved choice (`software.functions`).
    pub functions: BTreeMap<String, FunctionRule>,
    /// Where and with whom the device was assigned (`assignment`); None
    /// means no drift signal is ever raised.
    pub assignment: Option<Assignment>,
    /// Consumer VPN, proxy and keep-awake tools the organisation approves
    /// (`laptop_farm.approved`, ids of `postern catalog --laptop-farm`).
    pub farm_approved: BTreeSet<String>,
    /// The score from which laptop_farm_signals says `investigate`
    /// (`laptop_farm.threshold`; the catalog's when absent).
    pub farm_threshold: Option<i64>,
}

/// `assignment`: the countries (ISO 3166 alpha-2), time zones (IANA names
/// or shell patterns such as `America/*`) and languages (ISO 639 codes) the
/// device was assigned to. A time zone matches when it matches a pattern or
/// lies in one of the countries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub countries: Vec<String>,
    pub timezones: Vec<String>,
    pub languages: Vec<String>,
}

impl Policy {
    /// Whether a `software.managed` rule covers this software.
    pub fn manages(
        &self,
        name: &str,
        source: &str,
        publisher: Option<&str>,
        path: Option<&str>,
    ) -> bool {
        self.managed_rules
            .iter()
            .any(|r| r.matches(name, source, publisher, path))
    }
}

/// `software.functions.<function>`: `{"several": true}` lets several apps of
/// the function be installed; `{"approved": "wireguard"}` names the one the
/// organisation chose (every other app of the function is redundant).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionRule {
    pub several: bool,
    pub approved: Option<String>,
}

/// A `software.managed` rule: every field given must match (glob patterns,
/// case-insensitive); at least one field is given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagedRule {
    pub name: Option<glob::Pattern>,
    pub source: Option<String>,
    pub publisher: Option<glob::Pattern>,
    pub path: Option<glob::Pattern>,
}

impl ManagedRule {
    pub fn matches(
        &self,
        name: &str,
        source: &str,
        publisher: Option<&str>,
        path: Option<&str>,
    ) -> bool {
        let opts = glob::MatchOptions {
            case_sensitive: false,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        self.name
            .as_ref()
            .is_none_or(|p| p.matches_with(name, opts))
            && self.source.as_ref().is_none_or(|s| s == source)
            && self
                .publisher
                .as_ref()
                .is_none_or(|p| publisher.is_some_and(|v| p.matches_with(v, opts)))
            && self
                .path
                .as_ref()
                .is_none_or(|p| path.is_some_and(|v| p.matches_with(v, opts)))
    }
}

/// Where the policy came from and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyState {
    /// No file at the location: nothing is approved.
    Missing,
    Loaded,
    /// The file has problems; nothing is approved.
    Invalid(Vec<String>),
    /// The file could be written by a non-root user; nothing is approved.
    Refused(String),
    Unreadable(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoadedPolicy {
    pub path: String,
    pub state: PolicyState,
    pub policy: Policy,
}

impl LoadedPolicy {
    pub fn is_approved(&self, tool_id: &str) -> bool {
        self.policy.approved_remote_access.contains(tool_id)
    }

    /// One line for logs and the audit summary.
    pub fn describe(&self) -> String {
        match &self.state {
            PolicyState::Missing => format!("no policy at {}: nothing is approved", self.path),
            PolicyState::Loaded => format!(
                "policy {} approves {} remote access tool(s)",
                self.path,
                self.policy.approved_remote_access.len()
            ),
            PolicyState::Invalid(problems) => format!(
                "policy {} is invalid, nothing is approved: {}",
                self.path,
                problems.join("; ")
            ),
            PolicyState::Refused(why) => {
                format!("policy {} refused, nothing is approved: {why}", self.path)
            }
            PolicyState::Unreadable(why) => format!("{why}: nothing is approved"),
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct PolicyProblems(pub Vec<String>);

impl fmt::Display for PolicyProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The default policy location of a host (macOS or Linux), as a host path.
pub fn default_policy_host_path(root: &HostRoot) -> &'static str {
    if root.is_macos() {
        paths::DEFAULT_POLICY_MACOS
    } else {
        paths::DEFAULT_POLICY_LINUX
    }
}

/// Parses and validates policy text against the catalog. Pure.
pub fn parse_policy(text: &str, catalog: &Catalog) -> Result<Policy, PolicyProblems> {
    let StrictJson(value) = serde_json::from_str(text)
        .map_err(|e| PolicyProblems(vec![format!("not valid JSON: {e}")]))?;
    let Value::Object(top) = value else {
        return Err(PolicyProblems(vec![
            "the policy must be a JSON object, for example {\"remote_access\": {\"approved\": []}}"
                .into(),
        ]));
    };
    let mut problems = Vec::new();
    let mut policy = Policy::default();
    for (key, value) in &top {
        match key.as_str() {
            "remote_access" => parse_remote_access(value, catalog, &mut policy, &mut problems),
            "edr" => parse_edr(value, &mut policy, &mut problems),
            "controls" => parse_controls(value, &mut policy, &mut problems),
            "enrollment" => parse_enrollment(value, &mut policy, &mut problems),
            "software" => parse_software(value, &mut policy, &mut problems),
            "assignment" => parse_assignment(value, &mut policy, &mut problems),
            "laptop_farm" => parse_laptop_farm(value, &mut policy, &mut problems),
            other => problems.push(format!(
                "unknown key {other:?} (known keys: \"remote_access\", \"edr\", \"controls\", \"enrollment\", \"software\", \"assignment\", \"laptop_farm\")"
            )),
        }
    }
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(PolicyProblems(problems))
    }
}

/// JSON read into a `Value`, refusing an object that names a key twice:
/// serde_json would keep the last one, so `"approved": []` followed by
/// `"approved": ["anydesk"]` would silently approve AnyDesk.
struct StrictJson(Value);

impl<'de> serde::Deserialize<'de> for StrictJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};
        struct StrictVisitor;
        impl<'de> Visitor<'de> for StrictVisitor {
            type Value = StrictJson;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<StrictJson, E> {
                Ok(StrictJson(Value::Bool(v)))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<StrictJson, E> {
                Ok(StrictJson(Value::from(v)))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<StrictJson, E> {
                Ok(StrictJson(Value::from(v)))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<StrictJson, E> {
                Ok(StrictJson(Value::from(v)))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<StrictJson, E> {
                Ok(StrictJson(Value::String(v.to_string())))
            }
            fn visit_unit<E: Error>(self) -> Result<StrictJson, E> {
                Ok(StrictJson(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictJson, A::Error> {
                let mut items = Vec::new();
                while let Some(StrictJson(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(StrictJson(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictJson, A::Error> {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.contains_key(&key) {
                        return Err(A::Error::custom(format!(
                            "the key {key:?} appears twice in one object"
                        )));
                    }
                    let StrictJson(value) = map.next_value()?;
                    out.insert(key, value);
                }
                Ok(StrictJson(Value::Object(out)))
            }
        }
        d.deserialize_any(StrictVisitor)
    }
}

fn object<'a>(
    key: &str,
    value: &'a Value,
    problems: &mut Vec<String>,
) -> Option<&'a Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map),
        other => {
            problems.push(format!("{key} must be an object, not {other}"));
            None
        }
    }
}

fn parse_remote_access(
    value: &Value,
    catalog: &Catalog,
    policy: &mut Policy,
    problems: &mut Vec<String>,
) {
    let Some(map) = object("remote_access", value, problems) else {
        return;
    };
    for (key, value) in map {
        match key.as_str() {
            "approved" => {
                let Value::Array(items) = value else {
                    problems.push(format!(
                        "remote_access.approved must be a list of tool ids, not {value}"
                    ));
                    continue;
                };
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(id) if catalog.index_of(id).is_some() => {
                            policy.approved_remote_access.insert(id.to_string());
                        }
                        Some(id) => problems.push(format!(
                            "remote_access.approved[{i}]: unknown tool id {id:?} (see `postern catalog` for ids)"
                        )),
                        None => problems.push(format!(
                            "remote_access.approved[{i}]: {item} is not a tool id string"
                        )),
                    }
                }
            }
            other => problems.push(format!(
                "unknown key remote_access.{other} (known keys: \"approved\")"
            )),
        }
    }
}

/// A list of known ids at `key`, reporting each unknown one.
fn id_list(
    key: &str,
    value: &Value,
    known: &dyn Fn(&str) -> bool,
    hint: &str,
    problems: &mut Vec<String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Value::Array(items) = value else {
        problems.push(format!("{key} must be a list of ids, not {value}"));
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(id) if known(id) => {
                out.insert(id.to_string());
            }
            Some(id) => problems.push(format!("{key}[{i}]: unknown id {id:?} ({hint})")),
            None => problems.push(format!("{key}[{i}]: {item} is not an id string")),
        }
    }
    out
}

fn parse_edr(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("edr", value, problems) else {
        return;
    };
    let agents = crate::agents::AgentCatalog::embedded().ok();
    let known = |id: &str| agents.is_some_and(|a| a.get(id).is_some());
    for (key, value) in map {
        match key.as_str() {
            "required_any" => {
                policy.edr_required_any = id_list(
                    "edr.required_any",
                    value,
                    &known,
                    "`postern catalog --agents` lists the agent ids",
                    problems,
                )
            }
            other => problems.push(format!(
                "unknown key edr.{other} (known keys: \"required_any\")"
            )),
        }
    }
}

fn parse_controls(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("controls", value, problems) else {
        return;
    };
    let known = |id: &str| crate::controls::get(id).is_some();
    for (key, value) in map {
        match key.as_str() {
            "required" => {
                policy.required_controls = id_list(
                    "controls.required",
                    value,
                    &known,
                    "see `postern query security_control_health` for control ids",
                    problems,
                )
            }
            other => problems.push(format!(
                "unknown key controls.{other} (known keys: \"required\")"
            )),
        }
    }
}

/// Parses an RFC 3339 time or Unix seconds. Pure.
pub fn parse_time(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .filter(|s| *s > 0)
            .ok_or_else(|| format!("{n} is not a positive number of Unix seconds")),
        Value::String(s) => s
            .parse::<jiff::Timestamp>()
            .map(|t| t.as_second())
            .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e})")),
        other => Err(format!(
            "{other} is neither an RFC 3339 time nor Unix seconds"
        )),
    }
}

fn parse_enrollment(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("enrollment", value, problems) else {
        return;
    };
    for (key, value) in map {
        match key.as_str() {
            "time" => match parse_time(value) {
                Ok(t) => policy.enrollment_time = Some(t),
                Err(e) => problems.push(format!("enrollment.time: {e}")),
            },
            other => problems.push(format!(
                "unknown key enrollment.{other} (known keys: \"time\")"
            )),
        }
    }
}

const SOURCES: &[&str] = &[
    "deb",
    "rpm",
    "snap",
    "flatpak",
    "portable",
    "browser_extension",
    "app",
    "homebrew",
    "service",
    "autostart",
];

/// A list of strings at `key`, each checked by `valid` (which says what is
/// wrong), normalised by `norm`.
fn string_list(
    key: &str,
    value: &Value,
    valid: &dyn Fn(&str) -> Option<&'static str>,
    norm: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let Value::Array(items) = value else {
        problems.push(format!("{key} must be a list of strings, not {value}"));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(text) => match valid(text) {
                None => {
                    let v = norm(text);
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                Some(why) => problems.push(format!("{key}[{i}]: {text:?} {why}")),
            },
            None => problems.push(format!("{key}[{i}]: {item} is not a string")),
        }
    }
    out
}

fn parse_assignment(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("assignment", value, problems) else {
        return;
    };
    let mut a = Assignment::default();
    for (key, value) in map {
        let at = format!("assignment.{key}");
        match key.as_str() {
            "countries" => {
                a.countries = string_list(
                    &at,
                    value,
                    &|c| {
                        (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_alphabetic()))
                            .then_some("is not a two-letter ISO 3166 country code such as \"US\"")
                    },
                    &|c| c.to_ascii_uppercase(),
                    problems,
                )
            }
            "timezones" => {
                a.timezones = string_list(
                    &at,
                    value,
                    &|z| {
                        if z.is_empty() || z.len() > 64 {
                            Some("is not a time zone name or pattern such as \"America/*\"")
                        } else if glob::Pattern::new(z).is_err() {
                            Some("is not a valid pattern")
                        } else {
                            None
                        }
                    },
                    &str::to_string,
                    problems,
                )
            }
            "languages" => {
                a.languages = string_list(
                    &at,
                    value,
                    &|l| {
                        (!(2..=3).contains(&l.len()) || !l.bytes().all(|b| b.is_ascii_alphabetic()))
                            .then_some("is not an ISO 639 language code such as \"en\"")
                    },
                    &|l| l.to_ascii_lowercase(),
                    problems,
                )
            }
            other => problems.push(format!(
                "unknown key assignment.{other} (known keys: \"countries\", \"timezones\", \"languages\")"
            )),
        }
    }
    policy.assignment = Some(a);
}

fn parse_laptop_farm(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("laptop_farm", value, problems) else {
        return;
    };
    let catalog = Catalog::laptop_farm().ok();
    let known = |id: &str| catalog.is_some_and(|c| c.index_of(id).is_some());
    for (key, value) in map {
        match key.as_str() {
            "approved" => {
                policy.farm_approved = id_list(
                    "laptop_farm.approved",
                    value,
                    &known,
                    "`postern catalog --laptop-farm` lists the ids",
                    problems,
                )
            }
            "threshold" => match value.as_i64() {
                Some(t) if (1..=1000).contains(&t) => policy.farm_threshold = Some(t),
                _ => problems.push(format!(
                    "laptop_farm.threshold: {value} is not a whole number from 1 to 1000"
                )),
            },
            other => problems.push(format!(
                "unknown key laptop_farm.{other} (known keys: \"approved\", \"threshold\")"
            )),
        }
    }
}

/// Functions an app can have (`software.functions` keys): the function
/// catalog's, plus remote access and the security agent kinds.
pub const FUNCTIONS: &[&str] = &[
    "remote_access",
    "vpn",
    "password_manager",
    "cloud_sync",
    "messaging",
    "browser",
    "edr",
    "antivirus",
    "dfir",
    "telemetry",
];

fn parse_functions(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("software.functions", value, problems) else {
        return;
    };
    for (function, rule) in map {
        let at = format!("software.functions.{function}");
        if !FUNCTIONS.contains(&function.as_str()) {
            let known = FUNCTIONS.join(", ");
            problems.push(format!("unknown function {function:?} (known: {known})"));
            continue;
        }
        let Some(fields) = object(&at, rule, problems) else {
            continue;
        };
        let mut parsed = FunctionRule::default();
        for (field, v) in fields {
            match (field.as_str(), v) {
                ("several", Value::Bool(b)) => parsed.several = *b,
                ("approved", Value::String(id)) if !id.is_empty() => {
                    parsed.approved = Some(id.clone())
                }
                ("several" | "approved", other) => problems.push(format!(
                    "{at}.{field}: {other} is not {}",
                    if field == "several" {
                        "true or false"
                    } else {
                        "an app id"
                    }
                )),
                (other, _) => problems.push(format!(
                    "unknown key {at}.{other} (known keys: \"several\", \"approved\")"
                )),
            }
        }
        policy.functions.insert(function.clone(), parsed);
    }
}

fn parse_software(value: &Value, policy: &mut Policy, problems: &mut Vec<String>) {
    let Some(map) = object("software", value, problems) else {
        return;
    };
    for (key, value) in map {
        if key == "functions" {
            parse_functions(value, policy, problems);
            continue;
        }
        if key != "managed" {
            problems.push(format!(
                "unknown key software.{key} (known keys: \"managed\", \"functions\")"
            ));
            continue;
        }
        let Value::Array(rules) = value else {
            problems.push(format!(
                "software.managed must be a list of rules, not {value}"
            ));
            continue;
        };
        for (i, rule) in rules.iter().enumerate() {
            let at = format!("software.managed[{i}]");
            let Some(fields) = object(&at, rule, problems) else {
                continue;
            };
            let mut parsed = ManagedRule::default();
            for (field, v) in fields {
                let Some(text) = v.as_str() else {
                    problems.push(format!("{at}.{field}: {v} is not a string"));
                    continue;
                };
                let pattern = || {
                    glob::Pattern::new(text)
                        .map_err(|e| format!("{at}.{field}: {text:?} is not a valid pattern ({e})"))
                };
                match field.as_str() {
                    "name" => match pattern() {
                        Ok(p) => parsed.name = Some(p),
                        Err(e) => problems.push(e),
                    },
                    "publisher" => match pattern() {
                        Ok(p) => parsed.publisher = Some(p),
                        Err(e) => problems.push(e),
                    },
                    "path" => match pattern() {
                        Ok(p) => parsed.path = Some(p),
                        Err(e) => problems.push(e),
                    },
                    "source" if SOURCES.contains(&text) => parsed.source = Some(text.to_string()),
                    "source" => problems.push(format!(
                        "{at}.source: unknown source {text:?} (one of {})",
                        SOURCES.join(", ")
                    )),
                    other => problems.push(format!(
                        "{at}: unknown key {other:?} (known keys: name, source, publisher, path)"
                    )),
                }
            }
            if fields.is_empty() {
                problems.push(format!("{at}: an empty rule would match everything"));
            } else {
                policy.managed_rules.push(parsed);
            }
        }
    }
}

/// Why a file that a non-root user could write must not be trusted, given the
/// file's and its directory's owner and mode. Pure.
pub fn untrusted_reason(
    file_uid: u32,
    file_mode: u32,
    dir_uid: u32,
    dir_mode: u32,
) -> Option<String> {
    untrusted_reason_for(0, file_uid, file_mode, dir_uid, dir_mode)
}

/// As [`untrusted_reason`], with `owner` as the trusted account (root on a
/// live host; the owner of the image's `/` when auditing a mounted image).
pub fn untrusted_reason_for(
    owner: u32,
    file_uid: u32,
    file_mode: u32,
    dir_uid: u32,
    dir_mode: u32,
) -> Option<String> {
    let who = if owner == 0 {
        "root".to_string()
    } else {
        format!("uid {owner}")
    };
    if file_uid != owner {
        return Some(format!("owned by uid {file_uid}, not {who}"));
    }
    if file_mode & 0o022 != 0 {
        return Some(format!(
            "mode {:o} lets group or others write it",
            file_mode & 0o7777
        ));
    }
    let sticky = dir_mode & 0o1000 != 0;
    if dir_uid != owner {
        return Some(format!(
            "its directory is owned by uid {dir_uid}, not {who}"
        ));
    }
    if dir_mode & 0o022 != 0 && !sticky {
        return Some(format!(
            "its directory (mode {:o}) lets group or others replace it",
            dir_mode & 0o7777
        ));
    }
    None
}

/// Whether a non-root user could have written the file (see [`untrusted_reason`]).
pub fn trust_check(path: &Path) -> Result<(), String> {
    let file =
        fs::symlink_metadata(path).map_err(|e| format!("cannot stat {}: {e}", path.display()))?;
    if file.file_type().is_symlink() {
        return Err("it is a symbolic link".into());
    }
    // A bare file name's parent is "", which names no directory: ".".
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_meta = fs::metadata(dir).map_err(|e| format!("cannot stat {}: {e}", dir.display()))?;
    match untrusted_reason(file.uid(), file.mode(), dir_meta.uid(), dir_meta.mode()) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Where to read the policy from: an explicit file, or the default location
/// inside the audited root.
pub enum PolicySource {
    Explicit(PathBuf),
    Default,
}

/// Logs a warning the first time this process meets it: the policy is
/// loaded for every table call, and one bad file is one message.
fn warn_once(message: String) {
    static SEEN: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::LazyLock::new(Default::default);
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if seen.len() >= 1_000 {
        seen.clear();
    }
    if seen.insert(message.clone()) {
        log::warn!("{message}");
    }
}

/// Loads the policy; never fails (a bad policy approves nothing and says why).
/// `enforce_trust` is true when running as root.
pub fn load_policy(
    source: &PolicySource,
    root: &HostRoot,
    catalog: &Catalog,
    enforce_trust: bool,
) -> LoadedPolicy {
    let shown = match source {
        PolicySource::Explicit(p) => p.display().to_string(),
        PolicySource::Default => default_policy_host_path(root).to_string(),
    };
    let mut loaded = LoadedPolicy {
        path: shown.clone(),
        state: PolicyState::Missing,
        policy: Policy::default(),
    };
    let present = match source {
        PolicySource::Explicit(p) => match fs::symlink_metadata(p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => Some(Err(format!("cannot read policy {shown}: {e}"))),
            Ok(_) => Some(Ok(())),
        },
        PolicySource::Default => match root.symlink_metadata(&shown) {
            Err(e) if e.is_not_found() => None,
            Err(e) => Some(Err(e.to_string())),
            Ok(_) => Some(Ok(())),
        },
    };
    match present {
        None => return loaded,
        Some(Err(why)) => {
            loaded.state = PolicyState::Unreadable(why);
            return loaded;
        }
        Some(Ok(())) => {}
    }
    // The default policy belongs to the audited host: only its trusted owner
    // (root, or the owner of an image's `/`) may have written it, whoever
    // runs postern. An explicit file is held to root's standard when postern
    // runs as root.
    let trusted = match source {
        PolicySource::Default => root.check_trusted(&shown),
        PolicySource::Explicit(p) if enforce_trust => trust_check(p),
        PolicySource::Explicit(_) => Ok(()),
    };
    if let Err(why) = trusted {
        warn_once(format!("refusing policy {shown}: {why}"));
        loaded.state = PolicyState::Refused(why);
        return loaded;
    }
    let text = match source {
        PolicySource::Explicit(p) => read_policy_file(p),
        PolicySource::Default => root
            .read_capped(&shown, POLICY_CAP)
            .map_err(|e| e.to_string())
            .map(|b| String::from_utf8_lossy(&b).into_owned()),
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            loaded.state = PolicyState::Unreadable(format!("cannot read policy {shown}: {e}"));
            return loaded;
        }
    };
    match parse_policy(&text, catalog) {
        Ok(policy) => {
            loaded.policy = policy;
            loaded.state = PolicyState::Loaded;
        }
        Err(PolicyProblems(problems)) => {
            warn_once(format!(
                "policy {shown} is invalid: {}",
                problems.join("; ")
            ));
            loaded.state = PolicyState::Invalid(problems);
        }
    }
    loaded
}

/// Reads a policy file named on the command line: a regular file (a FIFO or
/// device is refused without blocking) of at most 1 MiB, as UTF-8.
pub fn read_policy_file(path: &Path) -> Result<String, String> {
    let bytes = crate::root::read_regular(path, POLICY_CAP, true).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// True when the process runs as root (policy and state trust rules apply).
pub fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::tests::test_catalog;

    #[test]
    fn valid_policy() -> Result<(), PolicyProblems> {
        let p = parse_policy(
            r#"{"remote_access":{"approved":["tailscale","anydesk"]}}"#,
            &test_catalog(),
        )?;
        assert_eq!(p.approved_remote_access.len(), 2);
        assert_eq!(parse_policy("{}", &test_catalog())?, Policy::default());
        Ok(())
    }

    #[test]
    fn software_functions() {
        let p = parse_policy(
            r#"{"software":{"functions":{"browser":{"several":true},"vpn":{"approved":"wireguard"}}}}"#,
            &test_catalog(),
        )
        .unwrap();
        assert!(p.functions["browser"].several);
        assert_eq!(p.functions["vpn"].approved.as_deref(), Some("wireguard"));
        let e = parse_policy(
            r#"{"software":{"functions":{"vnp":{},"vpn":{"several":"yes","pick":1}}}}"#,
            &test_catalog(),
        )
        .unwrap_err();
        let all = e.0.join("\n");
        assert!(all.contains(r#"unknown function "vnp""#), "{all}");
        assert!(
            all.contains("software.functions.vpn.several: \"yes\" is not true or false"),
            "{all}"
        );
        assert!(
            all.contains("unknown key software.functions.vpn.pick"),
            "{all}"
        );
    }

    #[test]
    fn every_problem_is_reported_with_key_and_value() {
        let text = r#"{"remote_acess":{},"remote_access":{"approved":["tailscale","anydsk",7],"aproved":[]}}"#;
        let Err(PolicyProblems(problems)) = parse_policy(text, &test_catalog()) else {
            unreachable!("bad policy accepted");
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        let all = problems.join("\n");
        for needle in [
            "\"remote_acess\"",
            "approved[1]: unknown tool id \"anydsk\"",
            "approved[2]: 7",
            "remote_access.aproved",
        ] {
            assert!(all.contains(needle), "{needle} missing: {all}");
        }
    }

    #[test]
    fn edr_and_controls() -> Result<(), PolicyProblems> {
        let p = parse_policy(
            r#"{"edr":{"required_any":["crowdstrike_falcon","sentinelone"]},"controls":{"required":["disk_encryption","firewall","auto_updates"]}}"#,
            &test_catalog(),
        )?;
        assert_eq!(p.edr_required_any.len(), 2);
        assert!(p.required_controls.contains("firewall"));
        let Err(PolicyProblems(problems)) = parse_policy(
            r#"{"edr":{"required_any":["crowdstrik"],"mode":1},"controls":{"required":["firewal"],"x":[]}}"#,
            &test_catalog(),
        ) else {
            unreachable!("accepted")
        };
        assert_eq!(problems.len(), 4, "{problems:?}");
        Ok(())
    }

    #[test]
    fn enrollment_and_managed_software() -> Result<(), PolicyProblems> {
        let p = parse_policy(
            r#"{"enrollment":{"time":"2026-01-15T09:00:00Z"},"software":{"managed":[{"source":"deb","publisher":"*Google*"},{"path":"/opt/company/*"}]}}"#,
            &test_catalog(),
        )?;
        assert_eq!(p.enrollment_time, Some(1_768_467_600));
        assert_eq!(p.managed_rules.len(), 2);
        assert!(p.managed_rules[0].matches(
            "google-chrome-stable",
            "deb",
            Some("Chrome Linux Team <chromium-dev@google.com>"),
            None
        ));
        assert!(!p.managed_rules[0].matches("google-chrome-stable", "rpm", Some("Google"), None));
        assert!(p.managed_rules[1].matches(
            "tool",
            "portable",
            None,
            Some("/opt/company/bin/tool")
        ));
        assert_eq!(
            parse_policy(r#"{"enrollment":{"time":1768467600}}"#, &test_catalog())?.enrollment_time,
            Some(1_768_467_600)
        );
        let Err(PolicyProblems(problems)) = parse_policy(
            r#"{"enrollment":{"time":"yesterday"},"software":{"managed":[{},{"source":"npm"},{"name":"[","x":1}]}}"#,
            &test_catalog(),
        ) else {
            unreachable!("accepted")
        };
        assert_eq!(problems.len(), 5, "{problems:?}");
        Ok(())
    }

    #[test]
    fn malformed_files() {
        for bad in [
            "",
            "{",
            "[]",
            "null",
            r#"{"remote_access":[]}"#,
            r#"{"remote_access":{"approved":"anydesk"}}"#,
        ] {
            assert!(
                parse_policy(bad, &test_catalog()).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn trust_rules() {
        assert_eq!(untrusted_reason(0, 0o100644, 0, 0o40755), None);
        assert_eq!(
            untrusted_reason(0, 0o100600, 0, 0o41777),
            None,
            "sticky dir, root-owned file"
        );
        assert!(
            untrusted_reason(1000, 0o100644, 0, 0o40755).is_some_and(|r| r.contains("uid 1000"))
        );
        assert!(untrusted_reason(0, 0o100664, 0, 0o40755).is_some_and(|r| r.contains("664")));
        assert!(untrusted_reason(0, 0o100644, 0, 0o40777).is_some_and(|r| r.contains("directory")));
        assert!(untrusted_reason(0, 0o100644, 1000, 0o40755).is_some());
    }

    #[test]
    fn refused_and_invalid_policies_approve_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("policy.json");
        fs::write(&path, r#"{"remote_access":{"approved":["anydesk"]}}"#)?;
        let root = HostRoot::new(dir.path())?;
        let catalog = test_catalog();
        let src = PolicySource::Explicit(path.clone());
        let ok = load_policy(&src, &root, &catalog, false);
        assert_eq!(ok.state, PolicyState::Loaded);
        assert!(ok.is_approved("anydesk"));

        // World-writable: refused when running as root.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666))?;
        let refused = load_policy(&src, &root, &catalog, true);
        assert!(
            matches!(refused.state, PolicyState::Refused(_)),
            "{refused:?}"
        );
        assert!(!refused.is_approved("anydesk"));

        fs::write(&path, "{\"remote_access\":")?;
        let invalid = load_policy(&src, &root, &catalog, false);
        assert!(matches!(invalid.state, PolicyState::Invalid(_)));
        assert!(!invalid.is_approved("anydesk"));

        let missing = load_policy(&PolicySource::Default, &root, &catalog, true);
        assert_eq!(missing.state, PolicyState::Missing);
        Ok(())
    }
}
