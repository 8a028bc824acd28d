//! Browser extensions in users' profiles: Chrome, Chromium, Edge and Brave
//! (`Preferences` / `Secure Preferences` and the unpacked manifests), and
//! Firefox (`extensions.json`). Built-in and component extensions are left
//! out; a remote-desktop or screen-sharing extension is a known route.

use serde_json::Value;

use crate::root::{join, HostRoot};

const PREFS_CAP: u64 = 32 << 20;
const MANIFEST_CAP: u64 = 1 << 20;
const MAX_PROFILES: usize = 64;
const MAX_EXTENSIONS: usize = 2_000;
/// Seconds between 1601-01-01 (Chrome's epoch) and 1970-01-01.
const WINDOWS_EPOCH_OFFSET: i64 = 11_644_473_600;

/// Chrome location codes of built-in extensions (COMPONENT, EXTERNAL_COMPONENT).
const BUILTIN_LOCATIONS: &[i64] = &[5, 10];

/// Chromium-family user data directories, relative to a home.
const CHROMIUM_DIRS: &[(&str, &str)] = &[
    ("chrome", ".config/google-chrome"),
    ("chromium", ".config/chromium"),
    ("edge", ".config/microsoft-edge"),
    ("brave", ".config/BraveSoftware/Brave-Browser"),
    ("chrome", "Library/Application Support/Google/Chrome"),
    ("chromium", "Library/Application Support/Chromium"),
    ("edge", "Library/Application Support/Microsoft Edge"),
    (
        "brave",
        "Library/Application Support/BraveSoftware/Brave-Browser",
    ),
];
const FIREFOX_DIRS: &[&str] = &[
    ".mozilla/firefox",
    "Library/Application Support/Firefox/Profiles",
];

/// `(id, name, version, install time)` as a profile records it.
pub type ExtensionEntry = (String, Option<String>, Option<String>, Option<i64>);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserExtension {
    pub browser: &'static str,
    pub id: String,
    pub name: String,
    pub version: Option<String>,
    pub install_time: Option<i64>,
    /// The profile directory (host path).
    pub profile: String,
    pub user: Option<String>,
}

/// Chrome's `install_time` (microseconds since 1601, as a string) in Unix
/// seconds. Pure.
pub fn chrome_time(value: &Value) -> Option<i64> {
    let micros: i64 = match value {
        Value::String(s) => s.parse().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    let secs = micros / 1_000_000 - WINDOWS_EPOCH_OFFSET;
    (secs > 0).then_some(secs)
}

/// Extensions from a Chromium `Preferences` document: `(id, name, version,
/// install time)`, built-in ones left out. Pure.
pub fn parse_chromium_prefs(prefs: &Value) -> Vec<ExtensionEntry> {
    let Some(settings) = prefs
        .pointer("/extensions/settings")
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    settings
        .iter()
        .filter(|(_, s)| {
            !s.get("location")
                .and_then(Value::as_i64)
                .is_some_and(|l| BUILTIN_LOCATIONS.contains(&l))
        })
        .take(MAX_EXTENSIONS)
        .map(|(id, s)| {
            let manifest = s.get("manifest");
            let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
            (
                id.clone(),
                text(manifest.and_then(|m| m.get("name"))),
                text(manifest.and_then(|m| m.get("version"))),
                s.get("install_time").and_then(chrome_time),
            )
        })
        .collect()
}

/// Extensions from Firefox's `extensions.json`, user-installed only:
/// `(id, name, version, install time)`. Pure.
pub fn parse_firefox_extensions(doc: &Value) -> Vec<ExtensionEntry> {
    let Some(addons) = doc.get("addons").and_then(Value::as_array) else {
        return Vec::new();
    };
    addons
        .iter()
        .filter(|a| a.get("type").and_then(Value::as_str) == Some("extension"))
        .filter(|a| a.get("location").and_then(Value::as_str) == Some("app-profile"))
        .take(MAX_EXTENSIONS)
        .filter_map(|a| {
            let id = a.get("id")?.as_str()?.to_string();
            let name = a
                .pointer("/defaultLocale/name")
                .and_then(Value::as_str)
                .map(str::to_string);
            let version = a.get("version").and_then(Value::as_str).map(str::to_string);
            let installed = a
                .get("installDate")
                .and_then(Value::as_i64)
                .map(|ms| ms / 1000);
            Some((id, name, version, installed))
        })
        .collect()
}

fn read_json(root: &HostRoot, path: &str, cap: u64, warnings: &mut Vec<String>) -> Option<Value> {
    match root.read_capped(path, cap) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(format!("{path}: not valid JSON ({e})"));
                None
            }
        },
        Err(e) if e.is_not_found() => None,
        Err(e) => {
            warnings.push(e.to_string());
            None
        }
    }
}

/// Name and version from the unpacked extension's manifest, resolving a
/// `__MSG_key__` name through its default locale.
fn manifest_name(
    root: &HostRoot,
    profile: &str,
    id: &str,
    warnings: &mut Vec<String>,
) -> (Option<String>, Option<String>) {
    let dir = format!("{profile}/Extensions/{id}");
    let Some(version_dir) = root
        .list_dir(&dir, 16)
        .ok()
        .and_then(|v| v.into_iter().last())
    else {
        return (None, None);
    };
    let base = join(&dir, &version_dir);
    let Some(manifest) = read_json(root, &join(&base, "manifest.json"), MANIFEST_CAP, warnings)
    else {
        return (None, None);
    };
    let version = manifest
        .get("version")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut name = manifest
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(key) = name
        .as_deref()
        .and_then(|n| n.strip_prefix("__MSG_"))
        .and_then(|n| n.strip_suffix("__"))
    {
        let locale = manifest
            .get("default_locale")
            .and_then(Value::as_str)
            .unwrap_or("en");
        let messages = read_json(
            root,
            &format!("{base}/_locales/{locale}/messages.json"),
            MANIFEST_CAP,
            warnings,
        );
        name = messages.and_then(|m| {
            m.as_object()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .and_then(|(_, v)| v.get("message")?.as_str().map(str::to_string))
        });
    }
    (name, version)
}

/// Every user-installed extension in every profile of every home.
pub fn extensions(
    root: &HostRoot,
    homes: &[(String, Option<String>)],
    warnings: &mut Vec<String>,
) -> Vec<BrowserExtension> {
    let mut out = Vec::new();
    for (home, owner) in homes {
        for (browser, rel) in CHROMIUM_DIRS {
            let data_dir = join(home, rel);
            let Ok(entries) = root.list_dir(&data_dir, 4096) else {
                continue;
            };
            for profile_name in entries
                .into_iter()
                .filter(|n| n == "Default" || n.starts_with("Profile "))
                .take(MAX_PROFILES)
            {
                let profile = join(&data_dir, &profile_name);
                let mut seen = std::collections::BTreeSet::new();
                for prefs_file in ["Secure Preferences", "Preferences"] {
                    let Some(prefs) =
                        read_json(root, &join(&profile, prefs_file), PREFS_CAP, warnings)
                    else {
                        continue;
                    };
                    for (id, name, version, installed) in parse_chromium_prefs(&prefs) {
                        if !seen.insert(id.clone()) {
                            continue;
                        }
                        let (m_name, m_version) = if name.is_none() || version.is_none() {
                            manifest_name(root, &profile, &id, warnings)
                        } else {
                            (None, None)
                        };
                        out.push(BrowserExtension {
                            browser,
                            name: name.or(m_name).unwrap_or_else(|| id.clone()),
                            version: version.or(m_version),
                            id,
                            install_time: installed,
                            profile: profile.clone(),
                            user: owner.clone(),
                        });
                    }
                }
            }
        }
        for rel in FIREFOX_DIRS {
            let dir = join(home, rel);
            for profile_name in root
                .list_dir(&dir, 4096)
                .unwrap_or_default()
                .into_iter()
                .take(MAX_PROFILES)
            {
                let profile = join(&dir, &profile_name);
                let Some(doc) = read_json(
                    root,
                    &join(&profile, "extensions.json"),
                    PREFS_CAP,
                    warnings,
                ) else {
                    continue;
                };
                for (id, name, version, installed) in parse_firefox_extensions(&doc) {
                    out.push(BrowserExtension {
                        browser: "firefox",
                        name: name.unwrap_or_else(|| id.clone()),
                        id,
                        version,
                        install_time: installed,
                        profile: profile.clone(),
                        user: owner.clone(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn chromium_preferences() {
        let prefs = json!({"extensions": {"settings": {
            "inomeogfingihgjfjlpeplalcfajhgai": {"install_time": "13380000000000000", "location": 1,
                "manifest": {"name": "Chrome Remote Desktop", "version": "1.5"}},
            "mhjfbmdgcfjbbpaeojofohoefgiehjai": {"location": 5, "manifest": {"name": "Chrome PDF Viewer"}},
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": {"install_time": "garbage"}
        }}});
        let got = parse_chromium_prefs(&prefs);
        assert_eq!(got.len(), 2);
        let crd = got
            .iter()
            .find(|e| e.0 == "inomeogfingihgjfjlpeplalcfajhgai")
            .unwrap();
        assert_eq!(crd.1.as_deref(), Some("Chrome Remote Desktop"));
        assert_eq!(crd.3, Some(13_380_000_000 - WINDOWS_EPOCH_OFFSET));
        assert_eq!(got.iter().find(|e| e.0.starts_with('a')).unwrap().3, None);
        assert!(parse_chromium_prefs(&json!([1, 2])).is_empty());
    }

    #[test]
    fn firefox_extensions() {
        let doc = json!({"schemaVersion": 36, "addons": [
            {"id": "uBlock0@raymondhill.net", "type": "extension", "location": "app-profile", "version": "1.60.0",
             "installDate": 1768467600000i64, "defaultLocale": {"name": "uBlock Origin"}},
            {"id": "formautofill@mozilla.org", "type": "extension", "location": "app-builtin"},
            {"id": "theme@x", "type": "theme", "location": "app-profile"}
        ]});
        let got = parse_firefox_extensions(&doc);
        assert_eq!(
            got,
            [(
                "uBlock0@raymondhill.net".to_string(),
                Some("uBlock Origin".to_string()),
                Some("1.60.0".to_string()),
                Some(1_768_467_600)
            )]
        );
        assert!(parse_firefox_extensions(&json!({"addons": "x"})).is_empty());
    }
}
