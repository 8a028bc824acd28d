//! Newer versions that apps' own updaters already know of, from the files
//! they keep: Homebrew's API cache (what `brew outdated` compares with) and
//! Firefox's downloaded-update record. No network, no `brew` process.
//!
//! - Homebrew: `~/Library/Caches/Homebrew/api/formula.jws.json` and
//!   `cask.jws.json` (also under a Linux home's `.cache/Homebrew/api`), a
//!   JSON Web Signature whose `payload` is the JSON array of every formula
//!   or cask. The newest cache of any home is read. A formula is outdated
//!   when its `versions.stable` (with `_revision`) is newer than the newest
//!   installed keg, as `brew outdated` decides; a cask when its `version`
//!   differs from the installed one, except casks that update themselves
//!   (`auto_updates`) or whose version is `latest`, which brew leaves alone
//!   too and which are unknown here.
//! - Firefox: `active-update.xml`, in the installation directory on Linux
//!   and in the user's `Library/Caches/Mozilla/updates/<install path>` on
//!   macOS, records an update downloaded and waiting for a restart
//!   (`appVersion`). It says nothing when no update was downloaded, so its
//!   absence is "unknown", never "current".
//!
//! Every cache here is in a user's home: a user can forge it to hide an
//! update (never to invent a security one). The parsers are pure.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;

use serde::Deserialize;

use crate::host::Candidate;
use crate::root::{join, HostRoot};

/// Homebrew's API cache, relative to a home (macOS, then Linux).
pub const HOMEBREW_API_DIRS: &[&str] = &["Library/Caches/Homebrew/api", ".cache/Homebrew/api"];
/// The cache files are some tens of MB (formula.jws.json about 30);
/// bounded above that.
const MAX_API_BYTES: u64 = 96 << 20;

/// Orders versions as Homebrew and most app vendors write them: runs of
/// digits compare as numbers, runs of letters as text, a pre-release word
/// (alpha, beta, pre, rc) sorts before the release it precedes, and a
/// missing part counts as 0. `_N` (Homebrew's revision) compares last. Pure.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (va, ra) = split_revision(a);
    let (vb, rb) = split_revision(b);
    let (ta, tb) = (tokens(va), tokens(vb));
    for i in 0..ta.len().max(tb.len()) {
        let ord = match (ta.get(i), tb.get(i)) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(x), None) => against_missing(x),
            (None, Some(y)) => against_missing(y).reverse(),
            (None, None) => Ordering::Equal,
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ra.cmp(&rb)
}

/// A part one version has and the other lacks: a pre-release word makes
/// it older (`2.0rc1` < `2.0`), 0 changes nothing (`3.0` = `3`), a number
/// or a patch letter makes it newer (`1.1.1w` > `1.1.1`).
fn against_missing(t: &Token) -> Ordering {
    match t {
        Token::Pre(..) => Ordering::Less,
        Token::Number(0) => Ordering::Equal,
        _ => Ordering::Greater,
    }
}

fn split_revision(v: &str) -> (&str, u64) {
    match v.rsplit_once('_') {
        Some((base, rev)) if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) => {
            (base, rev.parse().unwrap_or(0))
        }
        _ => (v, 0),
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Token {
    /// alpha < beta < pre < rc, all before any number.
    Pre(u8, String),
    Word(String),
    Number(u128),
}

fn tokens(v: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let bytes = v.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let digit = bytes.get(i).is_some_and(u8::is_ascii_digit);
        let alpha = bytes.get(i).is_some_and(u8::is_ascii_alphabetic);
        if !digit && !alpha {
            i += 1;
            continue;
        }
        while bytes.get(i).is_some_and(|b| {
            if digit {
                b.is_ascii_digit()
            } else {
                b.is_ascii_alphabetic()
            }
        }) {
            i += 1;
        }
        let part = v.get(start..i).unwrap_or("");
        out.push(if digit {
            Token::Number(part.parse().unwrap_or(u128::MAX))
        } else {
            let lower = part.to_ascii_lowercase();
            // `a1` and `b2` are pre-releases; a lone letter is a patch
            // level (openssl's `1.1.1w`).
            let numbered = bytes.get(i).is_some_and(u8::is_ascii_digit);
            match lower.as_str() {
                "a" if numbered => Token::Pre(0, lower),
                "alpha" => Token::Pre(0, lower),
                "b" if numbered => Token::Pre(1, lower),
                "beta" => Token::Pre(1, lower),
                "pre" | "preview" => Token::Pre(2, lower),
                "rc" => Token::Pre(3, lower),
                _ => Token::Word(lower),
            }
        });
    }
    out
}

#[derive(Debug, Deserialize)]
struct Jws {
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Formula {
    name: String,
    versions: FormulaVersions,
    #[serde(default)]
    revision: u64,
}

#[derive(Debug, Deserialize)]
struct FormulaVersions {
    stable: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Cask {
    token: String,
    version: Option<String>,
    #[serde(default)]
    auto_updates: Option<bool>,
}

/// What Homebrew's API cache says of installed formulae and casks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Homebrew {
    /// Formula name → its current `version[_revision]`.
    pub formulae: HashMap<String, String>,
    /// Cask token → its current version, or None when it updates itself
    /// or is `latest`.
    pub casks: HashMap<String, Option<String>>,
    /// The cache files read.
    pub sources: Vec<String>,
    /// What could not be read.
    pub warnings: Vec<String>,
}

/// Parses formula.jws.json (or the bare array), keeping `wanted` names.
/// Pure.
pub fn parse_formulae(
    bytes: &[u8],
    wanted: &HashSet<String>,
) -> Result<HashMap<String, String>, String> {
    let list: Vec<Formula> = payload(bytes)?;
    Ok(list
        .into_iter()
        .filter(|f| wanted.contains(&f.name))
        .filter_map(|f| {
            let stable = f.versions.stable?;
            let v = if f.revision > 0 {
                format!("{stable}_{}", f.revision)
            } else {
                stable
            };
            Some((f.name, v))
        })
        .collect())
}

/// Parses cask.jws.json (or the bare array), keeping `wanted` tokens.
/// Pure.
pub fn parse_casks(
    bytes: &[u8],
    wanted: &HashSet<String>,
) -> Result<HashMap<String, Option<String>>, String> {
    let list: Vec<Cask> = payload(bytes)?;
    Ok(list
        .into_iter()
        .filter(|c| wanted.contains(&c.token))
        .map(|c| {
            let v = c
                .version
                .filter(|v| v != "latest" && c.auto_updates != Some(true));
            (c.token, v)
        })
        .collect())
}

fn payload<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match serde_json::from_slice::<Jws>(bytes) {
        Ok(jws) => serde_json::from_str(&jws.payload).map_err(|e| format!("payload: {e}")),
        Err(_) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

impl Homebrew {
    /// The newest API cache files among the homes: (formula file, cask
    /// file), each with its metadata, for remembering the parsed answer.
    pub fn newest(root: &HostRoot, homes: &[String]) -> [Option<(String, std::fs::Metadata)>; 2] {
        ["formula.jws.json", "cask.jws.json"].map(|file| {
            homes
                .iter()
                .flat_map(|h| {
                    HOMEBREW_API_DIRS
                        .iter()
                        .map(move |d| join(&join(h, d), file))
                })
                .filter_map(|p| {
                    root.metadata(&p)
                        .ok()
                        .filter(|m| m.is_file())
                        .map(|m| (p, m))
                })
                .max_by(|a, b| a.1.mtime().cmp(&b.1.mtime()).then(a.0.cmp(&b.0)))
        })
    }

    /// Reads the API cache files [`Homebrew::newest`] chose, for the
    /// installed formula names and cask tokens.
    pub fn read(
        root: &HostRoot,
        files: &[Option<String>; 2],
        formulae: &HashSet<String>,
        casks: &HashSet<String>,
    ) -> Homebrew {
        let mut out = Homebrew::default();
        let warnings = &mut Vec::new();
        let [formula_file, cask_file] = files;
        for (path, is_cask) in [(formula_file, false), (cask_file, true)] {
            if (is_cask && casks.is_empty()) || (!is_cask && formulae.is_empty()) {
                continue;
            }
            let Some(path) = path.clone() else { continue };
            let bytes = match root.read_capped(&path, MAX_API_BYTES) {
                Ok(b) => b,
                Err(e) => {
                    warnings.push(e.to_string());
                    continue;
                }
            };
            let parsed = if is_cask {
                parse_casks(&bytes, casks).map(|c| out.casks = c)
            } else {
                parse_formulae(&bytes, formulae).map(|f| out.formulae = f)
            };
            match parsed {
                Ok(()) => out.sources.push(path),
                Err(e) => warnings.push(format!("{path}: {e}")),
            }
        }
        out.warnings = std::mem::take(warnings);
        out
    }

    /// The candidate for an installed formula (`name`) or cask
    /// (`name (cask)`) at `installed`.
    pub fn candidate(&self, name: &str, installed: &str) -> Option<Candidate> {
        let (latest, newer) = match name.strip_suffix(" (cask)") {
            Some(token) => {
                let latest = self.casks.get(token)?.as_ref()?;
                (latest, latest != installed)
            }
            None => {
                let latest = self.formulae.get(name)?;
                (
                    latest,
                    compare_versions(latest, installed) == Ordering::Greater,
                )
            }
        };
        Some(Candidate {
            version: if newer {
                latest.clone()
            } else {
                installed.to_string()
            },
            newer,
            // The API says nothing of security fixes.
            security: false,
            archive: if newer {
                "API cache".into()
            } else {
                String::new()
            },
            manager: "homebrew",
        })
    }
}

/// The version of the update Firefox downloaded and waits to install, from
/// active-update.xml. Pure.
pub fn parse_active_update(text: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e))
                if e.local_name().into_inner() == "update" =>
            {
                return e.attributes().flatten().find_map(|a| {
                    (a.key.local_name().into_inner() == "appVersion")
                        .then(|| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
                        .flatten()
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                });
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// The version of a Firefox installation from the `application.ini`
/// beside its executable (a tarball has no package to say it).
pub fn firefox_version(root: &HostRoot, exe: &str) -> Option<String> {
    let dir = exe.rsplit_once('/').map(|(d, _)| d)?;
    // The macOS app keeps it in Contents/Resources.
    let places = match dir.strip_suffix("/MacOS") {
        Some(contents) => [
            join(contents, "Resources/application.ini"),
            join(dir, "application.ini"),
        ],
        None => [
            join(dir, "application.ini"),
            join(dir, "browser/application.ini"),
        ],
    };
    places.iter().find_map(|p| {
        let text = root.read_string_capped(p, 64 << 10).ok()?;
        parse_application_ini(&text)
    })
}

/// `Version=` of the `[App]` section of Firefox's application.ini. Pure.
pub fn parse_application_ini(text: &str) -> Option<String> {
    let mut in_app = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_app = line == "[App]";
        } else if let Some(v) = line.strip_prefix("Version=").filter(|_| in_app) {
            return Some(v.trim().to_string()).filter(|v| !v.is_empty());
        }
    }
    None
}

/// Firefox's downloaded update for an installation whose executable is at
/// `exe` (`/opt/firefox/firefox`, `/Applications/Firefox.app/Contents/MacOS/firefox`)
/// and version `installed`: Some(candidate) when active-update.xml names a
/// newer version, None when nothing tells.
pub fn firefox_update(
    root: &HostRoot,
    exe: &str,
    installed: &str,
    homes: &[String],
) -> Option<Candidate> {
    let dir = exe.rsplit_once('/').map(|(d, _)| d)?;
    let mut places = vec![join(dir, "active-update.xml")];
    if let Some(app) = dir.strip_suffix("/Contents/MacOS") {
        // macOS: per user and per installation, under the app's path
        // without `.app` (`updates/Applications/Firefox`).
        let rel = app.trim_start_matches('/');
        let rel = rel.strip_suffix(".app").unwrap_or(rel);
        places.extend(homes.iter().map(|h| {
            join(
                &join(h, "Library/Caches/Mozilla/updates"),
                &join(rel, "active-update.xml"),
            )
        }));
    }
    places.iter().find_map(|p| {
        let text = root.read_string_capped(p, 1 << 20).ok()?;
        let version = parse_active_update(&text)?;
        (compare_versions(&version, installed) == Ordering::Greater).then(|| Candidate {
            version,
            newer: true,
            security: false,
            archive: "downloaded, waiting for a restart".into(),
            manager: "firefox",
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn version_order() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.24.5", "1.24.5", Equal),
            ("1.24.5_1", "1.24.5", Greater),
            ("1.10", "1.9", Greater),
            ("3.0", "3", Equal),
            ("3.0.1", "3", Greater),
            ("2.0rc1", "2.0", Less),
            ("2.0beta2", "2.0alpha9", Greater),
            ("133.0", "128.5.0esr", Greater),
            ("1.2.3,456", "1.2.3,455", Greater),
            ("2024a", "2023c", Greater),
            ("1.1.1w", "1.1.1", Greater),
            ("1.1.1w", "1.1.1v", Greater),
            ("2.0a1", "2.0", Less),
            ("99999999999999999999999999999999999999999", "1", Greater),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }

    const FORMULAE: &str = r#"{"payload":"[{\"name\":\"wget\",\"versions\":{\"stable\":\"1.25.0\",\"head\":\"HEAD\",\"bottle\":true},\"revision\":0},{\"name\":\"openssl@3\",\"versions\":{\"stable\":\"3.4.0\"},\"revision\":1},{\"name\":\"other\",\"versions\":{\"stable\":\"1\"}}]","signatures":[{"protected":"x","signature":"y"}]}"#;
    const CASKS: &str = r#"{"payload":"[{\"token\":\"anydesk\",\"version\":\"9.0.1\",\"auto_updates\":null},{\"token\":\"google-chrome\",\"version\":\"131.0.6778.86\",\"auto_updates\":true},{\"token\":\"obs\",\"version\":\"latest\"}]","signatures":[]}"#;

    fn set(names: &[&str]) -> HashSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn homebrew_api_cache() {
        let f = parse_formulae(FORMULAE.as_bytes(), &set(&["wget", "openssl@3"])).unwrap();
        assert_eq!(f["wget"], "1.25.0");
        assert_eq!(f["openssl@3"], "3.4.0_1");
        assert!(!f.contains_key("other"));
        let c = parse_casks(CASKS.as_bytes(), &set(&["anydesk", "google-chrome", "obs"])).unwrap();
        assert_eq!(c["anydesk"].as_deref(), Some("9.0.1"));
        assert_eq!(c["google-chrome"], None, "updates itself");
        assert_eq!(c["obs"], None, "latest");
        let brew = Homebrew {
            formulae: f,
            casks: c,
            ..Homebrew::default()
        };
        let w = brew.candidate("wget", "1.24.5").unwrap();
        assert!(w.newer);
        assert_eq!(w.version, "1.25.0");
        assert!(!brew.candidate("openssl@3", "3.4.0_1").unwrap().newer);
        assert!(brew.candidate("openssl@3", "3.4.0").unwrap().newer);
        assert!(brew.candidate("anydesk (cask)", "8.1.0").unwrap().newer);
        assert!(brew.candidate("google-chrome (cask)", "100").is_none());
        assert!(brew.candidate("absent", "1").is_none());
        assert!(parse_formulae(b"{\"payload\":\"not json\"}", &set(&[])).is_err());
        assert!(parse_casks(b"\xff", &set(&[])).is_err());
    }

    #[test]
    fn firefox_active_update() {
        let xml = r#"<?xml version="1.0"?><updates xmlns="http://www.mozilla.org/2005/app-update"><update xmlns="http://www.mozilla.org/2005/app-update" appVersion="133.0" buildID="20241125" channel="release" displayVersion="133.0" type="minor" statusText="Install Pending"><patch size="1" type="complete"/></update></updates>"#;
        assert_eq!(parse_active_update(xml).as_deref(), Some("133.0"));
        assert_eq!(parse_active_update("<updates/>"), None);
        assert_eq!(
            parse_active_update("<updates><update appVersion=\"\"/>"),
            None
        );
        assert_eq!(parse_active_update("garbage <<<"), None);
        assert_eq!(
            parse_application_ini("[App]\nVendor=Mozilla\nName=Firefox\nVersion=128.5.0esr\nBuildID=1\n[Gecko]\nVersion=9\n").as_deref(),
            Some("128.5.0esr")
        );
        assert_eq!(parse_application_ini("[Gecko]\nVersion=9\n"), None);
    }
}
