//! The enrollment baseline: the software inventory recorded when the device
//! was handed over, kept in postern's state directory (`/var/lib/postern` on
//! Linux, `/Library/Application Support/postern/state` on macOS).
//!
//! The file is written atomically (temporary file, fsync, rename, directory
//! fsync), owned by root with mode 0600, and carries a SHA-256 digest of its
//! content, so corruption and hand edits are detected. A damaged or vanished
//! baseline is never silently re-created: the damaged file is moved aside,
//! the marker file left at creation says a baseline existed, and `verify`
//! reports the problem until an administrator runs `postern baseline init
//! --force`. The digest detects accidents and careless edits; someone with
//! root can recompute it, which is why the digest is also shown to the fleet
//! (`security_control_health`) so a change can be noticed from outside.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::root::{paths, HostRoot};

pub const FORMAT: u32 = 1;
const BASELINE_FILE: &str = "baseline.json";
/// Left next to the baseline when it is created: its presence without a
/// baseline means the baseline vanished.
const MARKER_FILE: &str = "baseline.created";
const BASELINE_CAP: u64 = 256 << 20;

/// One piece of software in the inventory.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub source: String,
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub path: String,
}

/// What is hashed: everything but the digest.
#[derive(Serialize)]
struct Body<'a> {
    format: u32,
    created: i64,
    items: &'a [Item],
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub format: u32,
    /// When the baseline was recorded (Unix seconds).
    pub created: i64,
    pub items: Vec<Item>,
    /// SHA-256 (hex) of the canonical JSON of format, created and items.
    pub digest: String,
}

impl Baseline {
    pub fn new(created: i64, mut items: Vec<Item>) -> Baseline {
        items.sort();
        items.dedup();
        let digest = digest_of(FORMAT, created, &items);
        Baseline {
            format: FORMAT,
            created,
            items,
            digest,
        }
    }

    pub fn contains(&self, source: &str, name: &str) -> bool {
        // Items are sorted by source, then name.
        self.items
            .binary_search_by(|i| (i.source.as_str(), i.name.as_str()).cmp(&(source, name)))
            .is_ok()
    }
}

fn digest_of(format: u32, created: i64, items: &[Item]) -> String {
    let body = Body {
        format,
        created,
        items,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    hex(&Sha256::digest(&bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a baseline cannot be used.
#[derive(Debug, PartialEq)]
pub enum BaselineError {
    /// None was ever recorded here.
    Missing,
    /// The marker says one was recorded, but the file is gone.
    Vanished,
    /// Not JSON, wrong shape or wrong digest; the file was moved aside.
    Corrupt {
        reason: String,
        kept_at: Option<String>,
    },
    /// Writable by someone other than root.
    Untrusted(String),
    Io(String),
}

impl fmt::Display for BaselineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaselineError::Missing => write!(f, "no enrollment baseline has been recorded"),
            BaselineError::Vanished => write!(
                f,
                "the enrollment baseline was recorded but its file is gone; run `postern baseline init --force` after checking why"
            ),
            BaselineError::Corrupt { reason, kept_at } => {
                write!(f, "the enrollment baseline is damaged ({reason})")?;
                if let Some(k) = kept_at {
                    write!(f, "; the damaged file was kept beside it as {k}")?;
                }
                write!(f, "; run `postern baseline init --force` after checking why")
            }
            BaselineError::Untrusted(why) => write!(f, "the enrollment baseline is not trusted: {why}"),
            BaselineError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// Parses and checks a baseline's text. Pure.
pub fn parse(text: &str) -> Result<Baseline, String> {
    let b: Baseline =
        serde_json::from_str(text).map_err(|e| format!("not a baseline file: {e}"))?;
    if b.format != FORMAT {
        return Err(format!("format {} is not {FORMAT}", b.format));
    }
    let expected = digest_of(b.format, b.created, &b.items);
    if expected != b.digest {
        return Err(format!(
            "digest {} does not match its content ({expected})",
            b.digest
        ));
    }
    Ok(b)
}

/// The state directory of a host (a host path).
pub fn state_dir_host_path(root: &HostRoot) -> &'static str {
    if root.is_macos() {
        paths::STATE_DIR_MACOS
    } else {
        paths::STATE_DIR_LINUX
    }
}

/// Environment variable that moves the state directory (tests, unusual
/// layouts); read once by the command line, never by the library.
pub const STATE_DIR_ENV: &str = "POSTERN_STATE_DIR";

/// The baseline store of a host.
#[derive(Clone, Debug)]
pub struct Store {
    dir: PathBuf,
    /// The account that must own the files (root, or an image's owner).
    owner: u32,
    /// Named by the caller (POSTERN_STATE_DIR, tests) rather than the
    /// host's own `/var/lib/postern`.
    explicit: bool,
}

impl Store {
    /// The host's state directory, or `dir` when given.
    pub fn new(root: &HostRoot, dir: Option<&Path>) -> Store {
        Store {
            dir: dir.map_or_else(|| root.path(state_dir_host_path(root)), Path::to_path_buf),
            owner: root.trusted_owner(),
            explicit: dir.is_some(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The account that must own postern's state files.
    pub fn owner(&self) -> u32 {
        self.owner
    }

    /// Whether the caller named this directory (rather than the audited
    /// host's own): queries write their state only there or on the live
    /// machine, never into a disk image they audit.
    pub fn explicit(&self) -> bool {
        self.explicit
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join(BASELINE_FILE)
    }

    /// Reads and verifies the baseline. A damaged file is moved aside (once)
    /// so that nothing overwrites the evidence.
    pub fn load(&self) -> Result<Baseline, BaselineError> {
        let path = self.file();
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !self.dir.join(MARKER_FILE).exists() {
                    return Err(BaselineError::Missing);
                }
                // Moved aside because it was damaged (by an earlier load or
                // `baseline verify`): still damaged, not gone.
                if let Some(kept) = self.set_aside_since_last_save() {
                    return Err(BaselineError::Corrupt {
                        reason: "it was found damaged and moved aside".to_string(),
                        kept_at: Some(kept),
                    });
                }
                return Err(BaselineError::Vanished);
            }
            Err(e) => {
                return Err(BaselineError::Io(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        if !meta.is_file() {
            return Err(BaselineError::Untrusted(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let owner = self.owner;
        if meta.uid() != owner || meta.mode() & 0o022 != 0 {
            return Err(BaselineError::Untrusted(format!(
                "{} is owned by uid {} with mode {:o}",
                path.display(),
                meta.uid(),
                meta.mode() & 0o7777
            )));
        }
        let mut text = String::new();
        // Checked above to be a regular file; opened so that a FIFO swapped
        // in since cannot block, and a link swapped in is not followed.
        let read = crate::root::open_regular(&path, false)
            .and_then(|f| f.take(BASELINE_CAP).read_to_string(&mut text));
        let reason = match read {
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => "not UTF-8 text".to_string(),
            Err(e) => {
                return Err(BaselineError::Io(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
            Ok(_) => match parse(&text) {
                Ok(b) => return Ok(b),
                Err(reason) => reason,
            },
        };
        let kept_at = self.set_aside(&path);
        Err(BaselineError::Corrupt { reason, kept_at })
    }

    /// The name of the newest damaged baseline, if it was moved aside after
    /// the last save (a rename sets its change time; every save rewrites
    /// the marker): the baseline is then damaged, not vanished.
    fn set_aside_since_last_save(&self) -> Option<String> {
        let newest = (0..1000)
            .map(|n| match n {
                0 => format!("{BASELINE_FILE}.damaged"),
                n => format!("{BASELINE_FILE}.damaged.{n}"),
            })
            .take_while(|name| self.dir.join(name).exists())
            .last()?;
        let kept = fs::symlink_metadata(self.dir.join(&newest)).ok()?;
        let saved = fs::symlink_metadata(self.dir.join(MARKER_FILE)).ok()?;
        ((kept.ctime(), kept.ctime_nsec()) >= (saved.mtime(), saved.mtime_nsec())).then_some(newest)
    }

    /// Moves a damaged baseline to the first free `baseline.json.damaged`,
    /// `.damaged.1`, ... beside it, and returns that name.
    fn set_aside(&self, path: &Path) -> Option<String> {
        let name = (0..1000)
            .map(|n| match n {
                0 => format!("{BASELINE_FILE}.damaged"),
                n => format!("{BASELINE_FILE}.damaged.{n}"),
            })
            .find(|name| !self.dir.join(name).exists())?;
        match fs::rename(path, self.dir.join(&name)) {
            Ok(()) => {
                log::error!(
                    "damaged baseline moved to {}",
                    self.dir.join(&name).display()
                );
                Some(name)
            }
            Err(e) => {
                log::error!("cannot move the damaged baseline aside: {e}");
                None
            }
        }
    }

    /// Writes a baseline atomically: a temporary file in the same directory,
    /// fsync, rename over the old one, fsync of the directory. Refuses to
    /// replace an existing, vanished or damaged one unless `force`.
    pub fn save(&self, baseline: &Baseline, force: bool) -> Result<PathBuf, BaselineError> {
        if !force {
            match self.load() {
                Err(BaselineError::Missing) => {}
                Ok(_) => {
                    return Err(BaselineError::Io(format!(
                        "a baseline already exists at {}; use --force to replace it",
                        self.file().display()
                    )))
                }
                Err(e) => return Err(e),
            }
        }
        let io = |what: &str, e: std::io::Error| BaselineError::Io(format!("{what}: {e}"));
        fs::create_dir_all(&self.dir)
            .map_err(|e| io(&format!("cannot create {}", self.dir.display()), e))?;
        let tmp = self
            .dir
            .join(format!(".{BASELINE_FILE}.{}.tmp", std::process::id()));
        let body =
            serde_json::to_vec_pretty(baseline).map_err(|e| BaselineError::Io(e.to_string()))?;
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| io(&format!("cannot create {}", tmp.display()), e))?;
            f.write_all(&body)
                .map_err(|e| io("cannot write the baseline", e))?;
            f.sync_all()
                .map_err(|e| io("cannot fsync the baseline", e))?;
        }
        let target = self.file();
        fs::rename(&tmp, &target).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io(&format!("cannot rename onto {}", target.display()), e)
        })?;
        if let Ok(marker) = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(self.dir.join(MARKER_FILE))
        {
            let _ = writeln!(&marker, "{}", baseline.created);
            let _ = marker.sync_all();
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(&format!("cannot fsync {}", self.dir.display()), e))?;
        Ok(target)
    }
}

/// Records the baseline of a host from its current inventory.
pub fn record(
    root: &HostRoot,
    store: &Store,
    now: i64,
    force: bool,
) -> Result<(PathBuf, Baseline), BaselineError> {
    let snapshot = crate::host::snapshot::Snapshot::new(
        root,
        crate::table::Deadline::after(std::time::Duration::from_secs(120)),
    );
    let mut warnings = Vec::new();
    let mut incomplete = Vec::new();
    let items = crate::inventory::collect(
        &snapshot,
        crate::table::Deadline::none(),
        &crate::host::identity::IdentityCache::default(),
        &mut warnings,
        &mut incomplete,
    )
    .iter()
    .map(crate::inventory::Software::baseline_item)
    .collect();
    for w in warnings.iter().chain(&snapshot.take_warnings()) {
        log::warn!("baseline: {w}");
    }
    // What the walk did not reach is not in the baseline, so it shows as new
    // later: the safe side.
    for i in &incomplete {
        log::warn!(
            "baseline: the walk of {} stopped early: {}",
            i.area,
            i.reason
        );
    }
    let baseline = Baseline::new(now, items);
    let path = store.save(&baseline, force)?;
    Ok((path, baseline))
}

/// In osquery mode: record the baseline on first run; never over a damaged
/// or vanished one.
pub fn record_if_missing(root: &HostRoot, store: &Store, now: i64) {
    match store.load() {
        Ok(b) => log::info!(
            "enrollment baseline present: {} items, digest {}",
            b.items.len(),
            b.digest
        ),
        Err(BaselineError::Missing) => match record(root, store, now, false) {
            Ok((path, b)) => log::info!(
                "recorded the enrollment baseline at {}: {} items, digest {}",
                path.display(),
                b.items.len(),
                b.digest
            ),
            Err(e) => log::error!("cannot record the enrollment baseline: {e}"),
        },
        Err(e) => log::error!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(source: &str, name: &str) -> Item {
        Item {
            source: source.into(),
            name: name.into(),
            version: "1".into(),
            path: String::new(),
        }
    }

    #[test]
    fn digest_detects_edits() {
        let b = Baseline::new(1_700_000_000, vec![item("deb", "b"), item("deb", "a")]);
        let text = serde_json::to_string(&b).unwrap();
        assert_eq!(parse(&text).unwrap(), b);
        assert!(b.contains("deb", "a") && !b.contains("deb", "c"));
        let edited = text.replace("\"a\"", "\"anydesk\"");
        assert!(parse(&edited).unwrap_err().contains("digest"));
        assert!(parse(&text[..text.len() / 2]).is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn store_round_trip_corruption_and_vanishing() {
        let dir = tempfile::tempdir().unwrap();
        let root = HostRoot::new(dir.path()).unwrap();
        let store = Store::new(&root, None);
        assert_eq!(store.load(), Err(BaselineError::Missing));
        let b = Baseline::new(1_700_000_000, vec![item("deb", "a")]);
        let path = store.save(&b, false).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(store.load().unwrap(), b);
        assert!(store.save(&b, false).is_err(), "no silent replacement");

        fs::write(&path, "{\"format\":1,").unwrap();
        let err = store.load().unwrap_err();
        assert!(
            matches!(
                err,
                BaselineError::Corrupt {
                    kept_at: Some(_),
                    ..
                }
            ),
            "{err:?}"
        );
        // The damaged file was kept aside: still "damaged" (not "gone"), and
        // never re-created silently.
        assert_eq!(
            store.load(),
            Err(BaselineError::Corrupt {
                reason: "it was found damaged and moved aside".into(),
                kept_at: Some("baseline.json.damaged".into()),
            })
        );
        assert!(
            store.save(&b, false).is_err(),
            "a damaged baseline is not re-created silently"
        );
        store.save(&b, true).unwrap();
        assert_eq!(store.load().unwrap(), b);
        // Deleted after a new save: gone, whatever was kept aside before.
        fs::remove_file(&path).unwrap();
        assert_eq!(store.load(), Err(BaselineError::Vanished));
        store.save(&b, true).unwrap();
        let kept: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains("damaged"))
            .collect();
        assert_eq!(kept.len(), 1);
    }
}
