//! Content identity of executables: which tool a program is, whatever its
//! file is called, from byte strings its vendor compiled into it (the
//! catalog's `binary_markers_hex`: a rendezvous host, a public key).
//!
//! A renamed copy, a hard link, a deleted file or a program run from memory
//! still carries them. Reads are bounded ([`SCAN_CAP`]) and remembered per
//! file version (device, inode, size and modification time), so a
//! long-running extension reads each executable once.

use std::any::Any;
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use crate::catalog::{Catalog, ToolIndex};

/// Bytes of an executable searched for markers.
pub const SCAN_CAP: u64 = 128 << 20;
/// File versions remembered; the memory is dropped whole past this.
const MAX_ENTRIES: usize = 8_192;

/// One version of one file: device, inode, size, modification and change
/// times.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
    /// The change time, which no user can set: content rewritten with the
    /// size and modification time put back is still a new version.
    ctime: i64,
    ctime_nsec: i64,
}

impl FileKey {
    pub fn of(meta: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }
}

/// Bytes read at a time when searching an executable.
const CHUNK: usize = 1 << 20;

/// Searches the first [`SCAN_CAP`] bytes of `file` for the automaton's
/// patterns, a chunk at a time; each chunk starts with the last bytes of
/// the one before (as many as the longest pattern, less one), so a pattern
/// across a boundary is found. `found` gets each match's pattern id.
fn search_chunks(
    file: &File,
    matcher: &aho_corasick::AhoCorasick,
    found: &mut dyn FnMut(usize),
) -> std::io::Result<()> {
    let keep = matcher.max_pattern_len().saturating_sub(1);
    let mut buf = vec![0u8; CHUNK + keep];
    let mut carried = 0usize;
    let mut reader = file.take(SCAN_CAP);
    loop {
        let n = match reader.read(buf.get_mut(carried..).unwrap_or_default()) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let filled = carried + n;
        let window = buf.get(..filled).unwrap_or_default();
        for m in matcher.find_iter(window) {
            // A match wholly inside the carried bytes was seen last time.
            if m.end() > carried {
                found(m.pattern().as_usize());
            }
        }
        let tail = filled.saturating_sub(keep);
        buf.copy_within(tail..filled, 0);
        carried = filled - tail;
    }
}

/// What an executable's content says it is, whatever its name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// Catalog tools it names.
    pub tools: Vec<ToolIndex>,
    /// The package its ELF package note names, when that is what named the
    /// tools (no marker did).
    pub package: Option<crate::host::elf::PackageNote>,
    /// The desktop entry embedded in an AppImage, when that is what named
    /// the tools.
    pub desktop: Option<crate::host::appimage::DesktopEntry>,
}

/// Whether the open file is an AppImage (its first bytes, read in place).
fn is_appimage(file: &File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; 16];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    crate::host::appimage::is_appimage(head.get(..n).unwrap_or_default())
}

/// The tools an AppImage's embedded desktop entry names: by its program
/// (`Exec=`), else by its `Name=`, as executable names are matched.
fn by_desktop_entry(
    catalog: &Catalog,
    entry: &crate::host::appimage::DesktopEntry,
) -> Vec<ToolIndex> {
    for name in entry.exec.iter().chain(&entry.name) {
        let exact = catalog.by_process_name(name);
        if !exact.is_empty() {
            return exact.to_vec();
        }
        let normal = catalog.by_normal_name(name);
        if !normal.is_empty() {
            return normal.to_vec();
        }
    }
    Vec::new()
}

type DerivedFacts = HashMap<&'static str, (Vec<Option<FileKey>>, Arc<dyn Any + Send + Sync>)>;

/// What postern has learnt of each executable it read, kept for the life
/// of the process (the engine holds one for all calls).
#[derive(Debug, Default)]
pub struct IdentityCache {
    /// Facts derived from whole files or directories (dpkg's logs, its
    /// info directory), with the versions of what they were read from.
    derived: Mutex<DerivedFacts>,
    tools: Mutex<HashMap<FileKey, Identity>>,
    /// The executable format of each file version a walk looked at (none
    /// for what is not an executable), so later walks open only new files.
    formats: Mutex<HashMap<FileKey, Option<&'static str>>>,
    digests: Mutex<HashMap<FileKey, Option<String>>>,
}

impl IdentityCache {
    /// The tools the open executable names: by the markers it carries,
    /// else by the package its ELF package note names. Read once per file
    /// version; the same version is answered from memory afterwards.
    pub fn identify(&self, file: &File, catalog: &Catalog) -> std::io::Result<Identity> {
        let key = FileKey::of(&file.metadata()?);
        if let Some(known) = self.lock().get(&key) {
            return Ok(known.clone());
        }
        if is_appimage(file) {
            // Its payload is compressed: no marker shows; its desktop entry
            // says what it is.
            let mut identity = Identity::default();
            match crate::host::appimage::desktop_entry(file) {
                Ok(Some(entry)) => {
                    identity.tools = by_desktop_entry(catalog, &entry);
                    if !identity.tools.is_empty() {
                        identity.desktop = Some(entry);
                    }
                }
                Ok(None) => {}
                Err(e) => log::debug!("AppImage not read: {e}"),
            }
            self.remember(key, &identity);
            return Ok(identity);
        }
        let mut tools: Vec<ToolIndex> = Vec::new();
        if let Some((matcher, tool_of)) = catalog.binary_markers() {
            search_chunks(file, matcher, &mut |pattern| {
                if let Some(&tool) = tool_of.get(pattern) {
                    if !tools.contains(&tool) {
                        tools.push(tool);
                    }
                }
            })?;
        }
        tools.sort_unstable();
        let mut identity = Identity {
            tools,
            ..Identity::default()
        };
        if identity.tools.is_empty() {
            if let Some(note) = crate::host::elf::package_note(file) {
                let by_package = catalog.by_package(&note.name).to_vec();
                if !by_package.is_empty() {
                    identity.tools = by_package;
                    identity.package = Some(note);
                }
            }
        }
        self.remember(key, &identity);
        Ok(identity)
    }

    fn remember(&self, key: FileKey, identity: &Identity) {
        let mut cache = self.lock();
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(key, identity.clone());
    }

    /// The executable format of a file version, as `read` finds it the
    /// first time (its magic bytes).
    pub fn format(
        &self,
        key: FileKey,
        read: impl FnOnce() -> Option<&'static str>,
    ) -> Option<&'static str> {
        let lock = || self.formats.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = lock().get(&key) {
            return *known;
        }
        let found = read();
        let mut formats = lock();
        if formats.len() >= 4 * MAX_ENTRIES {
            formats.clear();
        }
        formats.insert(key, found);
        found
    }

    /// A fact computed from files (`what` names it), remembered with the
    /// versions of those files (`None` for one that is absent): the same
    /// versions give the remembered fact, any change computes it again.
    pub fn derived<T: Any + Send + Sync>(
        &self,
        what: &'static str,
        versions: Vec<Option<FileKey>>,
        compute: impl FnOnce() -> T,
    ) -> Arc<T> {
        let lock = || self.derived.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((known, fact)) = lock().get(what) {
            if *known == versions {
                if let Ok(fact) = Arc::clone(fact).downcast::<T>() {
                    return fact;
                }
            }
        }
        let fact = Arc::new(compute());
        let shared: Arc<dyn Any + Send + Sync> = fact.clone();
        lock().insert(what, (versions, shared));
        fact
    }

    /// Like [`identify`](Self::identify), within a budget of bytes read
    /// from disk: a file already known costs nothing; one that is not, and
    /// whose scan would overrun `budget`, is left unread (`Ok(None)`).
    pub fn identify_within(
        &self,
        file: &File,
        catalog: &Catalog,
        budget: &mut u64,
    ) -> std::io::Result<Option<Identity>> {
        let meta = file.metadata()?;
        if self.lock().contains_key(&FileKey::of(&meta)) {
            return self.identify(file, catalog).map(Some);
        }
        // An AppImage costs its desktop entry (a few small reads), not a
        // search of its compressed payload.
        let cost = if is_appimage(file) {
            0
        } else {
            meta.len().min(SCAN_CAP)
        };
        if cost > *budget {
            return Ok(None);
        }
        *budget -= cost;
        self.identify(file, catalog).map(Some)
    }

    /// A digest of the open file (`digest` computes it), computed once per
    /// file version: `new_software_since_enrollment` hashes the same
    /// portable executables on every query.
    pub fn digest(
        &self,
        file: File,
        digest: impl FnOnce(File, u64) -> Option<String>,
    ) -> Option<String> {
        let meta = file.metadata().ok()?;
        let key = FileKey::of(&meta);
        let lock = |m: &Mutex<HashMap<FileKey, Option<String>>>| {
            // A poisoned map only lost an insert; its entries are whole.
            m.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .cloned()
        };
        if let Some(known) = lock(&self.digests) {
            return known;
        }
        let value = digest(file, meta.len());
        let mut digests = self.digests.lock().unwrap_or_else(|p| p.into_inner());
        if digests.len() >= MAX_ENTRIES {
            digests.clear();
        }
        digests.insert(key, value.clone());
        value
    }

    /// File versions remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FileKey, Identity>> {
        self.tools.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Directories a package manager owns: a program running from one is not
/// even opened for identity (unless its file was deleted). Pure.
pub fn packaged_place(exe: &str) -> bool {
    const PACKAGED: &[&str] = &[
        "/usr/bin/",
        "/usr/sbin/",
        "/bin/",
        "/sbin/",
        "/usr/lib/",
        "/usr/lib64/",
        "/lib/",
        "/lib64/",
        "/usr/libexec/",
        "/usr/share/",
        "/snap/",
        "/System/",
    ];
    PACKAGED.iter().any(|p| exe.starts_with(p))
}

/// Whether a running program's executable is worth reading for markers:
/// where people who hide put programs, as opposed to software an
/// administrator installed. Yes for a deleted file or a memfd, for anything
/// under a home, `/tmp`, `/var/tmp` or `/dev/shm`, and for any file not
/// owned by root or writable by others; no for root's own files elsewhere
/// (packages, `/opt` installs), which package evidence covers and which
/// would cost a read of every large program on every cold query. Pure.
pub fn worth_identifying(exe: &str, deleted: bool, uid: u32, mode: u32) -> bool {
    const USER_PLACES: &[&str] = &[
        "/memfd:",
        "/home/",
        "/Users/",
        "/root/",
        "/tmp/",
        "/var/tmp/",
        "/dev/shm/",
        "/run/user/",
    ];
    deleted || uid != 0 || mode & 0o022 != 0 || USER_PLACES.iter().any(|p| exe.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// "postern-test-marker" and a second marker, hex-encoded.
    const CATALOG: &str = r#"[{"id": "marked", "name": "Marked", "vendor": "v", "category": "tunnel",
        "severity": "medium", "description": "d.", "references": ["https://example.org/"],
        "binary_markers_hex": ["706f737465726e2d746573742d6d61726b6572", "7365636f6e642d6d61726b6572"]}]"#;

    #[test]
    fn markers_anywhere_in_a_file_name_the_tool_once_per_version() -> std::io::Result<()> {
        let catalog = Catalog::from_sources(&[("t.json", CATALOG)])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let cache = IdentityCache::default();
        let mut file = tempfile::NamedTempFile::new()?;
        // Past the first read buffer, split by nothing.
        file.write_all(&vec![0u8; 300_000])?;
        file.write_all(b"..postern-test-marker..")?;
        file.flush()?;
        let opened = File::open(file.path())?;
        assert_eq!(cache.identify(&opened, &catalog)?.tools, [0]);
        assert_eq!(cache.len(), 1);
        // The same version is answered from memory.
        assert_eq!(
            cache.identify(&File::open(file.path())?, &catalog)?.tools,
            [0]
        );
        assert_eq!(cache.len(), 1);
        // A changed file is a new version, read again.
        let mut plain = tempfile::NamedTempFile::new()?;
        plain.write_all(b"nothing to see")?;
        plain.flush()?;
        assert!(cache
            .identify(&File::open(plain.path())?, &catalog)?
            .tools
            .is_empty());
        assert_eq!(cache.len(), 2);
        Ok(())
    }

    #[test]
    fn a_marker_across_a_chunk_boundary_is_found_and_the_budget_holds() -> std::io::Result<()> {
        let catalog = Catalog::from_sources(&[("t.json", CATALOG)])
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let marker = b"postern-test-marker";
        for split in [1, marker.len() / 2, marker.len() - 1] {
            let cache = IdentityCache::default();
            let mut file = tempfile::NamedTempFile::new()?;
            file.write_all(&vec![0u8; CHUNK - split])?;
            file.write_all(marker)?;
            file.write_all(&[0u8; 10])?;
            file.flush()?;
            assert_eq!(
                cache.identify(&File::open(file.path())?, &catalog)?.tools,
                [0],
                "{split}"
            );
            // Known now: free, whatever the budget.
            let mut budget = 0;
            assert_eq!(
                cache
                    .identify_within(&File::open(file.path())?, &catalog, &mut budget)?
                    .map(|i| i.tools),
                Some(vec![0])
            );
        }
        // Not known and larger than what is left: left unread.
        let cache = IdentityCache::default();
        let mut big = tempfile::NamedTempFile::new()?;
        big.write_all(&[0u8; 4096])?;
        big.flush()?;
        let mut budget = 4095;
        assert_eq!(
            cache.identify_within(&File::open(big.path())?, &catalog, &mut budget)?,
            None
        );
        assert_eq!((budget, cache.len()), (4095, 0));
        let mut budget = 5000;
        assert_eq!(
            cache.identify_within(&File::open(big.path())?, &catalog, &mut budget)?,
            Some(Identity::default())
        );
        assert_eq!(budget, 5000 - 4096);
        Ok(())
    }

    #[test]
    fn a_binary_without_markers_is_named_by_its_package_note() -> std::io::Result<()> {
        let catalog = Catalog::from_sources(&[(
            "t.json",
            r#"[{"id": "tigervnc", "name": "TigerVNC", "vendor": "v", "category": "vnc_server",
                "severity": "high", "description": "d.", "references": ["https://example.org/"],
                "linux": {"packages": ["tigervnc-server"]}}]"#,
        )])
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let cache = IdentityCache::default();
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(&crate::host::elf::test_binary(
            r#"{"type":"rpm","name":"tigervnc-server","version":"1.13.1"}"#,
        ))?;
        file.flush()?;
        let found = cache.identify(&File::open(file.path())?, &catalog)?;
        assert_eq!(found.tools, [0]);
        assert_eq!(
            found.package.map(|p| p.name).as_deref(),
            Some("tigervnc-server")
        );
        // A package the catalog does not know names nothing.
        let mut other = tempfile::NamedTempFile::new()?;
        other.write_all(&crate::host::elf::test_binary(
            r#"{"type":"rpm","name":"bash"}"#,
        ))?;
        other.flush()?;
        assert_eq!(
            cache.identify(&File::open(other.path())?, &catalog)?,
            Identity::default()
        );
        Ok(())
    }

    #[test]
    fn a_renamed_appimage_is_named_by_its_desktop_entry() -> std::io::Result<()> {
        let catalog = Catalog::from_sources(&[(
            "t.json",
            r#"[{"id": "rustdesk", "name": "RustDesk", "vendor": "v", "category": "remote_desktop",
                "severity": "high", "description": "d.", "references": ["https://example.org/"],
                "linux": {"process_names": ["rustdesk"]}}]"#,
        )])
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let image = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/host/testdata/appimage/gzip-file.AppImage");
        let cache = IdentityCache::default();
        let found = cache.identify(&File::open(&image)?, &catalog)?;
        assert_eq!(found.tools, [0]);
        assert_eq!(
            found.desktop.map(|d| d.file).as_deref(),
            Some("rustdesk.desktop")
        );
        // Its cost against a budget is its desktop entry, not its size.
        let other = IdentityCache::default();
        let mut budget = 0;
        assert_eq!(
            other
                .identify_within(&File::open(&image)?, &catalog, &mut budget)?
                .map(|i| i.tools),
            Some(vec![0])
        );
        Ok(())
    }

    #[test]
    fn a_derived_fact_is_recomputed_only_when_its_files_change() -> std::io::Result<()> {
        let cache = IdentityCache::default();
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(b"v1")?;
        file.flush()?;
        let version =
            |f: &tempfile::NamedTempFile| f.as_file().metadata().ok().map(|m| FileKey::of(&m));
        let calls = std::cell::Cell::new(0);
        let compute = || {
            calls.set(calls.get() + 1);
            calls.get()
        };
        assert_eq!(*cache.derived("x", vec![version(&file), None], compute), 1);
        assert_eq!(*cache.derived("x", vec![version(&file), None], compute), 1);
        // Another fact is its own.
        assert_eq!(*cache.derived("y", vec![version(&file)], compute), 2);
        // The file changes (size and time): computed again.
        file.write_all(b" and v2")?;
        file.flush()?;
        assert_eq!(*cache.derived("x", vec![version(&file), None], compute), 3);
        // A file that appears where there was none.
        assert_eq!(
            *cache.derived("x", vec![version(&file), version(&file)], compute),
            4
        );
        Ok(())
    }

    #[test]
    fn a_digest_is_computed_once_per_file_version() -> std::io::Result<()> {
        let cache = IdentityCache::default();
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(b"one")?;
        file.flush()?;
        let calls = std::cell::Cell::new(0);
        let digest = |_: File, size: u64| {
            calls.set(calls.get() + 1);
            Some(format!("size {size}"))
        };
        assert_eq!(
            cache.digest(File::open(file.path())?, digest).as_deref(),
            Some("size 3")
        );
        assert_eq!(
            cache.digest(File::open(file.path())?, digest).as_deref(),
            Some("size 3")
        );
        assert_eq!(calls.get(), 1);
        Ok(())
    }

    #[test]
    fn root_installed_programs_are_not_read() {
        assert!(!worth_identifying("/usr/bin/ssh", false, 0, 0o755));
        assert!(!worth_identifying(
            "/opt/google/chrome/chrome",
            false,
            0,
            0o755
        ));
        assert!(worth_identifying(
            "/home/bob/.cache/x/update-helper",
            false,
            1000,
            0o755
        ));
        assert!(worth_identifying("/tmp/x", false, 0, 0o755));
        assert!(worth_identifying("/opt/tool/bin/tool", false, 1000, 0o755));
        assert!(worth_identifying("/usr/local/bin/x", false, 0, 0o777));
        assert!(worth_identifying("/usr/bin/x", true, 0, 0o755));
        assert!(worth_identifying("/memfd:x", false, 0, 0o777));
    }
}
