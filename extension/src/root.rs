//! The host being audited, seen through a root directory.
//!
//! Every collector reads the host through [`HostRoot`]: `/` on a live machine,
//! a mounted disk image or a fixture tree in tests (`/proc` and `/sys`
//! included). This is the only module that holds absolute host paths; the
//! rest of the crate names places through [`paths`] or catalog data.
//!
//! Reads are bounded ([`HostRoot::read_capped`]), symbolic links are never
//! followed out of the root, and errors name the host path they concern.

use std::fmt;
use std::fs::{self, File, Metadata};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// Well-known host locations, as absolute host paths.
pub mod paths {
    pub const PROC: &str = "/proc";
    /// The target of a masked systemd unit's link.
    pub const DEV_NULL: &str = "/dev/null";
    /// osquery's default extension manager socket (not read through the root).
    pub const OSQUERY_SOCKET: &str = "/var/osquery/osquery.em";
    pub const SYS_USB_DEVICES: &str = "/sys/bus/usb/devices";
    pub const SYS_BLOCK: &str = "/sys/block";
    pub const SYS_DEV_BLOCK: &str = "/sys/dev/block";
    pub const MOUNTINFO: &str = "/proc/self/mountinfo";
    pub const OS_RELEASE: &str = "/etc/os-release";
    pub const OS_RELEASE_USR: &str = "/usr/lib/os-release";
    pub const SWAPS: &str = "/proc/swaps";
    pub const CRYPTTAB: &str = "/etc/crypttab";
    pub const EFI_DIR: &str = "/sys/firmware/efi";
    pub const SECURE_BOOT_VAR: &str =
        "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-e0f6b6ee2a22";
    pub const LOCKDOWN: &str = "/sys/kernel/security/lockdown";
    pub const APPARMOR_ENABLED: &str = "/sys/module/apparmor/parameters/enabled";
    pub const APPARMOR_PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
    pub const SELINUX_ENFORCE: &str = "/sys/fs/selinux/enforce";
    pub const UFW_CONF: &str = "/etc/ufw/ufw.conf";
    pub const NFTABLES_CONF: &str = "/etc/nftables.conf";
    pub const IPTABLES_NAMES: &str = "/proc/net/ip_tables_names";
    pub const APT_CONF_D: &str = "/etc/apt/apt.conf.d";
    pub const APT_LISTS: &str = "/var/lib/apt/lists";
    pub const APT_PREFERENCES: &str = "/etc/apt/preferences";
    pub const APT_PREFERENCES_D: &str = "/etc/apt/preferences.d";
    pub const DNF_AUTOMATIC_CONF: &str = "/etc/dnf/automatic.conf";
    pub const DCONF_DB: &str = "/etc/dconf/db";
    pub const TIMESYNC_SYNCHRONIZED: &str = "/run/systemd/timesync/synchronized";
    pub const OSQUERY_DB: &str = "/var/osquery/osquery.db";
    pub const OSQUERY_OPT: &str = "/opt/osquery";
    pub const SSH_DIR: &str = "/etc/ssh";
    pub const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";
    pub const MACOS_SYSTEM_VERSION: &str = "/System/Library/CoreServices/SystemVersion.plist";
    pub const ALF_PLIST: &str = "/Library/Preferences/com.apple.alf.plist";
    pub const GATEKEEPER_PLIST: &str = "/var/db/SystemPolicy-prefs.plist";
    pub const SOFTWARE_UPDATE_PLIST: &str = "/Library/Preferences/com.apple.SoftwareUpdate.plist";
    pub const FILEVAULT_PRK: &str = "/private/var/db/FileVaultPRK.dat";
    pub const MDM_CLOUD_CONFIG: &str =
        "/private/var/db/ConfigurationProfiles/Settings/.cloudConfigProfileInstalled";
    pub const MANAGED_PREFERENCES: &str = "/Library/Managed Preferences";
    pub const MACOS_SSHD_LABEL: &str = "com.openssh.sshd";
    pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
    pub const RPMDB_SQLITE: &str = "/var/lib/rpm/rpmdb.sqlite";
    pub const RPMDB_SQLITE_USR: &str = "/usr/lib/sysimage/rpm/rpmdb.sqlite";
    pub const RPMDB_BDB: &str = "/var/lib/rpm/Packages";
    pub const SNAPS: &str = "/snap";
    pub const SNAPD_SNAPS: &str = "/var/lib/snapd/snaps";
    pub const FLATPAK_SYSTEM_APPS: &str = "/var/lib/flatpak/app";
    pub const PASSWD: &str = "/etc/passwd";
    pub const APPLICATIONS: &str = "/Applications";
    pub const SYSTEMD_UNIT_DIRS: &[&str] = &[
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
    ];
    /// Unit directories owned by the package manager.
    pub const SYSTEMD_VENDOR_PREFIXES: &[&str] = &["/lib/", "/usr/lib/"];
    pub const SYSTEMD_USER_UNIT_DIRS: &[&str] = &["/etc/systemd/user", "/usr/lib/systemd/user"];
    pub const XDG_AUTOSTART_DIRS: &[&str] = &["/etc/xdg/autostart"];
    /// SysV init scripts, and the runlevel directories whose `S` links
    /// start them at boot (systemd's sysv generator still honours them).
    pub const INIT_D: &str = "/etc/init.d";
    pub const RC_DIRS: &[&str] = &["/etc/rc2.d", "/etc/rc3.d", "/etc/rc4.d", "/etc/rc5.d"];
    /// System crontabs, whose lines carry a user field.
    pub const SYSTEM_CRONTAB: &str = "/etc/crontab";
    pub const CRON_D: &str = "/etc/cron.d";
    /// Per-user crontabs (Debian, then Red Hat), without a user field.
    pub const USER_CRONTAB_DIRS: &[&str] = &["/var/spool/cron/crontabs", "/var/spool/cron"];
    pub const LAUNCH_DAEMONS: &str = "/Library/LaunchDaemons";
    pub const LAUNCHD_DIRS: &[&str] = &[LAUNCH_DAEMONS, "/Library/LaunchAgents"];
    /// System-wide places where a user (or an installer run by one) can drop
    /// an executable without a package manager.
    pub const WRITABLE_EXEC_DIRS: &[&str] = &["/tmp", "/var/tmp", "/opt", "/usr/local/bin"];
    /// Per-user places, relative to a home directory.
    /// (`.cargo/bin`, `go/bin`: what `cargo install` and `go install` put
    /// there; `.local/bin`: pip, pipx and npm commands, often links;
    /// `.cache`: a place nobody looks.)
    pub const HOME_EXEC_DIRS: &[&str] = &[
        "Downloads",
        "Desktop",
        ".local/bin",
        "Applications",
        "bin",
        ".cargo/bin",
        "go/bin",
        ".cache",
        ".local/lib/node_modules",
    ];
    pub const HOME_AUTOSTART_DIR: &str = ".config/autostart";
    pub const HOME_SYSTEMD_USER_DIR: &str = ".config/systemd/user";
    pub const HOME_FLATPAK_APPS: &str = ".local/share/flatpak/app";
    pub const HOME_LAUNCH_AGENTS: &str = "Library/LaunchAgents";
    pub const HOMES_LINUX: &str = "/home";
    pub const HOMES_MACOS: &str = "/Users";
    pub const ROOT_HOME: &str = "/root";
    pub const LAUNCHD_OVERRIDES: &str =
        "/private/var/db/launchd.db/com.apple.launchd/overrides.plist";
    /// launchd label of macOS's built-in screen sharing, and the catalog tool
    /// it stands for.
    pub const MACOS_SCREEN_SHARING_LABEL: &str = "com.apple.screensharing";
    pub const MACOS_SCREEN_SHARING_TOOL: &str = "macos_screen_sharing";
    /// The catalog tool standing for Apple Remote Management (ARD).
    pub const ARD_TOOL: &str = "apple_remote_desktop_agent";
    /// The catalog tool standing for an OpenSSH client's reverse forward.
    pub const SSH_REVERSE_TUNNEL_TOOL: &str = "ssh_reverse_tunnel";
    /// ssh client configuration: system-wide, its drop-in directory, and a
    /// user's (relative to the home).
    pub const SSH_CLIENT_CONFIG: &str = "/etc/ssh/ssh_config";
    pub const SSH_CLIENT_CONFIG_D: &str = "/etc/ssh/ssh_config.d";
    pub const HOME_SSH_CONFIG: &str = ".ssh/config";
    /// Present on a live Linux host (and a fixture standing for one).
    pub const PROC_INIT: &str = "/proc/1";
    pub const PROC_STAT: &str = "/proc/stat";
    pub const SSHD_CONFIG_D: &str = "/etc/ssh/sshd_config.d";
    pub const SYSTEMD_WANTS: &str = "/etc/systemd/system/multi-user.target.wants";
    pub const SYSTEMD_TIMERS_WANTS: &str = "/etc/systemd/system/timers.target.wants";
    /// Present while Apple Remote Management (ARD) is turned on.
    pub const ARD_ENABLED_MARKER: &str =
        "/Library/Application Support/Apple/Remote Desktop/RemoteManagement.launchd";
    pub const STATE_DIR_LINUX: &str = "/var/lib/postern";
    pub const STATE_DIR_MACOS: &str = "/Library/Application Support/postern/state";
    pub const DPKG_LOG_DIR: &str = "/var/log";
    pub const DPKG_INFO: &str = "/var/lib/dpkg/info";
    pub const APT_LOG_DIR: &str = "/var/log/apt";
    pub const LOCALTIME: &str = "/etc/localtime";
    pub const SNAPD_SNAPS_DIR: &str = "/var/lib/snapd/snaps";
    pub const HOMEBREW_PREFIXES: &[&str] = &["/opt/homebrew", "/usr/local"];
    pub const DEFAULT_POLICY_LINUX: &str = "/etc/postern/policy.json";
    pub const DEFAULT_POLICY_MACOS: &str = "/Library/Application Support/postern/policy.json";
}

/// An error reading the host, naming the host path.
#[derive(Debug)]
pub struct HostError {
    pub path: String,
    pub kind: HostErrorKind,
}

#[derive(Debug)]
pub enum HostErrorKind {
    Io(io::Error),
    /// The file is larger than the read cap.
    TooLarge {
        cap: u64,
    },
    /// Not read, and why: not a regular file, or a link not followed.
    Refused(String),
}

impl HostError {
    pub(crate) fn io(path: &str, err: io::Error) -> Self {
        HostError {
            path: path.to_string(),
            kind: HostErrorKind::Io(err),
        }
    }

    /// True when the thing simply is not there (not an error worth logging).
    pub fn is_not_found(&self) -> bool {
        matches!(&self.kind, HostErrorKind::Io(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(20))
    }

    pub fn is_permission_denied(&self) -> bool {
        matches!(&self.kind, HostErrorKind::Io(e) if e.kind() == io::ErrorKind::PermissionDenied)
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            HostErrorKind::Io(e) => write!(f, "cannot read {}: {}", self.path, e),
            HostErrorKind::Refused(why) => write!(f, "refusing {}: {why}", self.path),
            HostErrorKind::TooLarge { cap } => {
                write!(
                    f,
                    "refusing {}: larger than the {} byte read limit",
                    self.path, cap
                )
            }
        }
    }
}

impl std::error::Error for HostError {}

/// The audited host: a directory standing for `/`.
#[derive(Clone, Debug)]
pub struct HostRoot {
    base: PathBuf,
    /// `base`, canonicalised once, for the path-based fallback resolver.
    canonical_base: PathBuf,
    /// The account trusted for configuration files (see `trusted_owner`).
    owner: u32,
    /// An `O_PATH` descriptor of an image's `/`: every lookup in an image is
    /// resolved from it by the kernel as if chrooted (`openat2` with
    /// `RESOLVE_IN_ROOT`). `None` for the live machine.
    dir: Option<Arc<OwnedFd>>,
    /// False to resolve image paths in user space even where the kernel
    /// has `openat2` (the tests check both resolvers with the same cases).
    kernel_resolves: bool,
}

/// Flags for reading a file the user may have put a FIFO, socket or device
/// at: `O_NONBLOCK` makes such an open return at once (the file type is
/// checked right after), and no controlling terminal is ever acquired.
fn read_flags() -> OFlags {
    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC
}

/// Why a descriptor is not a regular file, if it is not one.
fn not_regular(fd: &OwnedFd) -> io::Result<Option<&'static str>> {
    let stat = rustix::fs::fstat(fd)?;
    Ok(match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => None,
        FileType::Directory => Some("a directory"),
        FileType::Fifo => Some("a FIFO"),
        FileType::Socket => Some("a socket"),
        FileType::CharacterDevice | FileType::BlockDevice => Some("a device"),
        _ => Some("a special file"),
    })
}

/// Opens a file by its filesystem path as the tables open host files: never
/// blocking, regular files only, the final link followed only if `follow`.
/// For files named on the command line or kept in postern's own state.
pub fn open_regular(path: &Path, follow: bool) -> io::Result<File> {
    let mut flags = read_flags();
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(io::Error::from)?;
    if let Some(what) = not_regular(&fd)? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {what}, not a regular file"),
        ));
    }
    Ok(File::from(fd))
}

/// Reads a whole regular file of at most `cap` bytes (see [`open_regular`]).
pub fn read_regular(path: &Path, cap: u64, follow: bool) -> io::Result<Vec<u8>> {
    let file = open_regular(path, follow)?;
    let mut buf = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {cap}-byte limit"),
        ));
    }
    Ok(buf)
}

/// False once `openat2` has answered that the kernel lacks it (before 5.6,
/// or filtered by a seccomp policy); lookups then use [`resolve_in`].
static OPENAT2_WORKS: AtomicBool = AtomicBool::new(true);

impl HostRoot {
    pub fn new(base: impl Into<PathBuf>) -> io::Result<Self> {
        let base = base.into();
        let canonical_base = fs::canonicalize(&base)?;
        if !fs::metadata(&canonical_base)?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", base.display()),
            ));
        }
        // A root this process cannot list would give every table nothing
        // and a warning per file: refuse it once, naming it.
        fs::read_dir(&canonical_base)?;
        use std::os::unix::fs::MetadataExt;
        let owner = fs::metadata(&canonical_base)?.uid();
        let dir = if canonical_base == Path::new("/") {
            None
        } else {
            let fd = rustix::fs::open(
                &canonical_base,
                path_only() | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            Some(Arc::new(fd))
        };
        Ok(HostRoot {
            base,
            canonical_base,
            owner,
            dir,
            kernel_resolves: true,
        })
    }

    /// The live machine.
    pub fn system() -> Self {
        HostRoot {
            base: PathBuf::from("/"),
            canonical_base: PathBuf::from("/"),
            owner: 0,
            dir: None,
            kernel_resolves: true,
        }
    }

    /// The same tree with image lookups resolved in user space, as on a
    /// kernel without `openat2`.
    #[cfg(test)]
    fn user_space_resolver(mut self) -> Self {
        self.kernel_resolves = false;
        self
    }

    /// True when the tree is a macOS system (live, or a mounted image on any
    /// host): its policy and state live in macOS locations.
    pub fn is_macos(&self) -> bool {
        if self.is_system() {
            return cfg!(target_os = "macos");
        }
        self.exists(paths::MACOS_SYSTEM_VERSION)
    }

    pub fn is_system(&self) -> bool {
        self.canonical_base == Path::new("/")
    }

    /// The account trusted for configuration files: root on a live host,
    /// the owner of the tree's `/` for a mounted image or fixture.
    pub fn trusted_owner(&self) -> u32 {
        self.owner
    }

    /// Whether a host file counts as configuration only its trusted owner
    /// could have written (the file and the directory it really sits in).
    pub fn check_trusted(&self, host_path: &str) -> Result<(), String> {
        use std::os::unix::fs::MetadataExt;
        let fd = self
            .lookup(host_path, path_only(), true)
            .map_err(|e| format!("cannot stat {host_path}: {e}"))?;
        let file = File::from(fd);
        let meta = file
            .metadata()
            .map_err(|e| format!("cannot stat {host_path}: {e}"))?;
        // The directory the kernel found the file in, links resolved.
        let real =
            fs::read_link(fd_path(&file)).map_err(|e| format!("cannot locate {host_path}: {e}"))?;
        let dir = real.parent().unwrap_or(Path::new("/"));
        let dir_meta = fs::metadata(dir)
            .map_err(|e| format!("cannot stat the directory of {host_path}: {e}"))?;
        match crate::policy::untrusted_reason_for(
            self.trusted_owner(),
            meta.uid(),
            meta.mode(),
            dir_meta.uid(),
            dir_meta.mode(),
        ) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    pub fn base(&self) -> &Path {
        &self.base
    }

    /// The filesystem path of a host path, for postern's own state directory
    /// and messages. `..` components cannot climb above the root. Links in
    /// it are *not* resolved inside the root: host files are read through
    /// the methods below.
    pub fn path(&self, host_path: &str) -> PathBuf {
        let mut out = self.base.clone();
        let mut depth = 0usize;
        for component in Path::new(host_path).components() {
            match component {
                Component::Normal(part) => {
                    out.push(part);
                    depth += 1;
                }
                Component::ParentDir if depth > 0 => {
                    out.pop();
                    depth -= 1;
                }
                _ => {}
            }
        }
        out
    }

    /// Opens a host path with `flags`, resolved the way the host itself would
    /// resolve it: on an image, absolute link targets restart at the image's
    /// `/`, `..` stops there and magic links (`/proc/PID/root`) are refused,
    /// by the kernel (`openat2`, `RESOLVE_IN_ROOT`) or, where it lacks that,
    /// by [`resolve_in`]. The final component is followed only if `follow`.
    fn lookup(&self, host_path: &str, flags: OFlags, follow: bool) -> io::Result<OwnedFd> {
        let mut flags = flags | OFlags::CLOEXEC;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let Some(dir) = &self.dir else {
            return Ok(rustix::fs::open(
                self.path(host_path),
                flags,
                Mode::empty(),
            )?);
        };
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if self.kernel_resolves && OPENAT2_WORKS.load(Ordering::Relaxed) {
            let relative = host_path.trim_start_matches('/');
            let relative = if relative.is_empty() { "." } else { relative };
            match rustix::fs::openat2(
                dir.as_fd(),
                relative,
                flags,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            ) {
                Err(e) if e == Errno::NOSYS => {
                    log::info!("openat2 is unavailable ({e}); resolving image paths in user space");
                    OPENAT2_WORKS.store(false, Ordering::Relaxed);
                }
                other => return Ok(other?),
            }
        }
        // Fallback: resolve the path inside the root in user space (every
        // component when following, all but the last otherwise), then open
        // the result without following anything further.
        if follow {
            let real = resolve_in(&self.canonical_base, host_path)?;
            return Ok(rustix::fs::open(
                real,
                flags | OFlags::NOFOLLOW,
                Mode::empty(),
            )?);
        }
        let (parent, name) = match host_path.trim_end_matches('/').rsplit_once('/') {
            Some((parent, name)) if !name.is_empty() => (parent, name),
            _ => ("/", "."),
        };
        let real_parent = resolve_in(&self.canonical_base, parent)?;
        Ok(rustix::fs::open(
            real_parent.join(name),
            flags,
            Mode::empty(),
        )?)
    }

    /// Opens a host file for reading without ever blocking: FIFOs, sockets,
    /// devices and directories are refused, and a final symbolic link is
    /// followed (inside the root) only when the trusted owner made it, so a
    /// user's link to `/dev/zero` or to another user's file is not read.
    pub fn open(&self, host_path: &str) -> Result<File, HostError> {
        let io = |e: io::Error| HostError::io(host_path, e);
        let fd = match self.lookup(host_path, read_flags(), false) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(Errno::LOOP.raw_os_error()) => {
                let link = self.symlink_metadata(host_path)?;
                use std::os::unix::fs::MetadataExt;
                if link.file_type().is_symlink() && link.uid() != self.trusted_owner() {
                    return Err(HostError {
                        path: host_path.to_string(),
                        kind: HostErrorKind::Refused(format!(
                            "a symbolic link owned by uid {}, not followed",
                            link.uid()
                        )),
                    });
                }
                self.lookup(host_path, read_flags(), true).map_err(io)?
            }
            Err(e) => return Err(io(e)),
        };
        if let Some(what) = not_regular(&fd).map_err(io)? {
            return Err(HostError {
                path: host_path.to_string(),
                kind: HostErrorKind::Refused(format!("{what}, not a regular file")),
            });
        }
        Ok(File::from(fd))
    }

    /// Opens the executable a process runs, for reading, without blocking
    /// and regular files only. On the live machine through the kernel's
    /// `/proc/PID/exe` link, which still reaches a deleted file or a memfd;
    /// in an image, the link's target inside the image.
    pub fn open_process_exe(&self, pid: i64) -> Result<File, HostError> {
        let link = format!("{}/{pid}/exe", paths::PROC);
        let fd = if self.dir.is_none() {
            rustix::fs::open(self.path(&link), read_flags(), Mode::empty())
                .map_err(|e| HostError::io(&link, e.into()))?
        } else {
            let target = self.read_link(&link)?;
            return self.open(target.trim_end_matches(" (deleted)"));
        };
        if let Some(what) = not_regular(&fd).map_err(|e| HostError::io(&link, e))? {
            return Err(HostError {
                path: link,
                kind: HostErrorKind::Refused(format!("{what}, not a regular file")),
            });
        }
        Ok(File::from(fd))
    }

    /// A host file opened as [`open`](Self::open) does, with a path that
    /// names the open file itself (`/proc/self/fd/N`), for libraries that
    /// open files by name (SQLite). Keep the `File` alive while using it.
    pub fn open_for_library(&self, host_path: &str) -> Result<(File, PathBuf), HostError> {
        let file = self.open(host_path)?;
        let path = fd_path(&file);
        Ok((file, path))
    }

    /// Reads a whole file of at most `cap` bytes.
    pub fn read_capped(&self, host_path: &str, cap: u64) -> Result<Vec<u8>, HostError> {
        let file = self.open(host_path)?;
        let mut buf = Vec::new();
        // One byte more than the cap tells "exactly cap" from "larger".
        file.take(cap.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| HostError::io(host_path, e))?;
        if buf.len() as u64 > cap {
            return Err(HostError {
                path: host_path.to_string(),
                kind: HostErrorKind::TooLarge { cap },
            });
        }
        Ok(buf)
    }

    /// Reads a text file of at most `cap` bytes; invalid UTF-8 is replaced.
    pub fn read_string_capped(&self, host_path: &str, cap: u64) -> Result<String, HostError> {
        let bytes = self.read_capped(host_path, cap)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Reads at most `cap` bytes from the start of a file (no error when larger).
    pub fn read_prefix(&self, host_path: &str, cap: u64) -> Result<Vec<u8>, HostError> {
        let file = self.open(host_path)?;
        let mut buf = Vec::new();
        file.take(cap)
            .read_to_end(&mut buf)
            .map_err(|e| HostError::io(host_path, e))?;
        Ok(buf)
    }

    /// The target of a symbolic link, as text (never followed). Used for
    /// `/proc/PID/exe`, whose target is a path on the host, not in the root.
    pub fn read_link(&self, host_path: &str) -> Result<String, HostError> {
        let io = |e: io::Error| HostError::io(host_path, e);
        let target = if self.dir.is_none() {
            fs::read_link(self.path(host_path)).map_err(io)?
        } else {
            let fd = self.lookup(host_path, path_only(), false).map_err(io)?;
            // On the descriptor itself, a file that is not a link answers
            // ENOENT; it is EINVAL for a path, as everywhere else.
            let target = rustix::fs::readlinkat(&fd, "", Vec::new()).map_err(|e| {
                io(match e {
                    Errno::NOENT => Errno::INVAL.into(),
                    other => other.into(),
                })
            })?;
            PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()))
        };
        Ok(target.to_string_lossy().into_owned())
    }

    /// Metadata of the entry itself (links are not followed).
    pub fn symlink_metadata(&self, host_path: &str) -> Result<Metadata, HostError> {
        let io = |e: io::Error| HostError::io(host_path, e);
        if self.dir.is_none() {
            return fs::symlink_metadata(self.path(host_path)).map_err(io);
        }
        let fd = self.lookup(host_path, path_only(), false).map_err(io)?;
        File::from(fd).metadata().map_err(io)
    }

    /// Metadata of what the path resolves to, inside the root.
    pub fn metadata(&self, host_path: &str) -> Result<Metadata, HostError> {
        let io = |e: io::Error| HostError::io(host_path, e);
        if self.dir.is_none() {
            return fs::metadata(self.path(host_path)).map_err(io);
        }
        let fd = self.lookup(host_path, path_only(), true).map_err(io)?;
        File::from(fd).metadata().map_err(io)
    }

    pub fn exists(&self, host_path: &str) -> bool {
        self.symlink_metadata(host_path).is_ok()
    }

    /// Lists a directory: on an image, the directory is opened inside the
    /// root and listed through its descriptor, so no link leads out.
    fn read_dir(&self, host_path: &str) -> Result<fs::ReadDir, HostError> {
        let io = |e: io::Error| HostError::io(host_path, e);
        if self.dir.is_none() {
            return fs::read_dir(self.path(host_path)).map_err(io);
        }
        let fd = self
            .lookup(
                host_path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK,
                true,
            )
            .map_err(io)?;
        let dir = File::from(fd);
        // `/proc/self/fd/N` reopens this very directory; the listing and each
        // entry's metadata are then read relative to it.
        fs::read_dir(fd_path(&dir)).map_err(io)
    }

    /// Streams the entries of a directory to `visit` (in directory order)
    /// until it returns false. Entries that cannot be read are skipped.
    pub fn scan_dir(
        &self,
        host_path: &str,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<(), HostError> {
        for entry in self.read_dir(host_path)? {
            let Ok(entry) = entry else { continue };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let entry = Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                file_type,
                entry,
            };
            if !visit(&entry) {
                break;
            }
        }
        Ok(())
    }

    /// The entries of a directory with their types, sorted by name, at most
    /// `cap` of them. Cheaper than [`list_dir`](Self::list_dir) plus a
    /// metadata call per name: types come from the directory itself.
    pub fn entries(&self, host_path: &str, cap: usize) -> Result<Vec<Entry>, HostError> {
        let dir = self.read_dir(host_path)?;
        let mut out = Vec::new();
        for entry in dir {
            if out.len() >= cap {
                log::warn!("{host_path}: more than {cap} entries, the rest are skipped");
                break;
            }
            let Ok(entry) = entry else { continue };
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            out.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                file_type,
                entry,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Names of the entries of a directory (links are listed, not followed),
    /// at most `cap` of them, sorted for stable output.
    pub fn list_dir(&self, host_path: &str, cap: usize) -> Result<Vec<String>, HostError> {
        let entries = self.read_dir(host_path)?;
        let mut names = Vec::new();
        for entry in entries {
            if names.len() >= cap {
                log::warn!("{host_path}: more than {cap} entries, the rest are skipped");
                break;
            }
            match entry {
                Ok(entry) => names.push(entry.file_name().to_string_lossy().into_owned()),
                Err(e) => log::debug!("{host_path}: {e}"),
            }
        }
        names.sort();
        Ok(names)
    }
}

/// True when `file` is the program running now (the same inode as
/// `/proc/self/exe`, read on this machine whatever the audited root):
/// postern's catalog names every tool, so its own binary is no evidence.
pub fn is_this_program(file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(theirs), Ok(ours)) = (file.metadata(), fs::metadata("/proc/self/exe")) else {
        return false;
    };
    theirs.dev() == ours.dev() && theirs.ino() == ours.ino()
}

/// The path that names an open file itself (`/proc/self/fd/N`; `/dev/fd/N`
/// where there is no procfs).
fn fd_path(file: &File) -> PathBuf {
    use std::os::fd::AsRawFd;
    let dir = if cfg!(target_os = "linux") {
        "/proc/self/fd"
    } else {
        "/dev/fd"
    };
    PathBuf::from(format!("{dir}/{}", file.as_raw_fd()))
}

/// Flags for a descriptor that only locates a file (`O_PATH`: no read
/// permission needed, nothing opened, so a FIFO cannot block). Systems
/// without `O_PATH` open for reading without blocking instead.
fn path_only() -> OFlags {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return OFlags::PATH;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return OFlags::RDONLY | OFlags::NONBLOCK;
}

/// Links followed while resolving one path before giving up (as ELOOP).
const MAX_LINK_HOPS: usize = 40;

/// Chroot-style resolution of `host_path` below `base` (already canonical).
fn resolve_in(base: &Path, host_path: &str) -> io::Result<PathBuf> {
    // Components still to walk, in reverse order (a stack).
    let mut pending: Vec<String> = split_components(host_path).into_iter().rev().collect();
    let mut current: Vec<String> = Vec::new();
    let mut hops = 0usize;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                current.pop();
                continue;
            }
            _ => {}
        }
        let mut candidate = base.to_path_buf();
        candidate.extend(current.iter());
        candidate.push(&part);
        // A missing component ends the walk; callers report NotFound.
        let meta = fs::symlink_metadata(&candidate)?;
        if meta.file_type().is_symlink() {
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(io::Error::other("too many levels of symbolic links"));
            }
            let target = fs::read_link(&candidate)?;
            let target = target.to_string_lossy();
            if target.starts_with('/') {
                current.clear();
            }
            for piece in split_components(&target).into_iter().rev() {
                pending.push(piece);
            }
        } else {
            current.push(part);
        }
    }
    let mut out = base.to_path_buf();
    out.extend(current.iter());
    Ok(out)
}

fn split_components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A directory entry: its name and, unless it is a link, its metadata
/// (read relative to the directory, without a path walk).
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub file_type: fs::FileType,
    entry: fs::DirEntry,
}

impl Entry {
    /// The entry's own metadata (links are not followed).
    pub fn metadata(&self) -> io::Result<Metadata> {
        self.entry.metadata()
    }
}

/// Joins host path pieces with `/`.
pub fn join(dir: &str, name: &str) -> String {
    if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// The last component of a host path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_cannot_climb_out_of_the_root() {
        let root = HostRoot {
            base: PathBuf::from("/fixture"),
            canonical_base: PathBuf::from("/fixture"),
            owner: 0,
            dir: None,
            kernel_resolves: true,
        };
        assert_eq!(
            root.path("/etc/passwd"),
            PathBuf::from("/fixture/etc/passwd")
        );
        assert_eq!(
            root.path("../../etc/passwd"),
            PathBuf::from("/fixture/etc/passwd")
        );
        assert_eq!(root.path("/a/../../b"), PathBuf::from("/fixture/b"));
    }

    #[test]
    fn links_resolve_inside_the_root() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let outside = tempfile::NamedTempFile::new()?;
        fs::write(outside.path(), "outside")?;
        fs::create_dir_all(dir.path().join("etc"))?;
        fs::create_dir_all(dir.path().join("lib/systemd"))?;
        fs::write(dir.path().join("lib/systemd/unit"), "inside")?;
        // An absolute link resolves against the root, as on the imaged host.
        std::os::unix::fs::symlink("/lib/systemd/unit", dir.path().join("etc/abs"))?;
        std::os::unix::fs::symlink("../../../../lib/systemd/unit", dir.path().join("etc/climb"))?;
        std::os::unix::fs::symlink(outside.path(), dir.path().join("etc/evil"))?;
        std::os::unix::fs::symlink("loop", dir.path().join("etc/loop"))?;
        let root = HostRoot::new(dir.path())?;
        assert_eq!(root.read_capped("/etc/abs", 10)?, b"inside");
        assert_eq!(root.read_capped("/etc/climb", 10)?, b"inside");
        let evil = root.read_capped("/etc/evil", 10).err();
        assert!(
            evil.is_some_and(|e| e.is_not_found()),
            "the outside file is never read"
        );
        assert!(root.read_capped("/etc/loop", 10).is_err());
        Ok(())
    }

    #[test]
    fn reads_are_capped() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join("big"), vec![b'a'; 100])?;
        let root = HostRoot::new(dir.path())?;
        assert!(root.read_capped("/big", 100).is_ok());
        let err = root.read_capped("/big", 99).err();
        assert!(matches!(
            err,
            Some(HostError {
                kind: HostErrorKind::TooLarge { cap: 99 },
                ..
            })
        ));
        assert_eq!(root.read_prefix("/big", 10)?.len(), 10);
        let missing = root.read_capped("/nope", 10).err();
        assert!(missing.is_some_and(|e| e.is_not_found() && e.to_string().contains("/nope")));
        Ok(())
    }
}

#[cfg(test)]
mod containment_tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) -> io::Result<()> {
        let status = std::process::Command::new("mkfifo").arg(path).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other("mkfifo failed"))
        }
    }

    #[test]
    fn fifos_sockets_and_directories_are_refused_at_once() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        mkfifo(&dir.path().join("fifo"))?;
        let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock"))?;
        fs::create_dir(dir.path().join("dir"))?;
        for root in [HostRoot::new(dir.path())?, HostRoot::system()] {
            let prefix = if root.is_system() {
                dir.path().display().to_string()
            } else {
                String::new()
            };
            for name in ["fifo", "sock", "dir"] {
                let started = Instant::now();
                let err = root.read_capped(&format!("{prefix}/{name}"), 100).err();
                // A socket cannot even be opened (ENXIO); the others are
                // opened without blocking and refused by type.
                assert!(
                    err.as_ref().is_some_and(
                        |e| name == "sock" || e.to_string().contains("not a regular file")
                    ),
                    "{name}: {err:?}"
                );
                assert!(started.elapsed() < Duration::from_secs(2), "{name} blocked");
            }
        }
        // The same for files named on the command line.
        let fifo = dir.path().join("fifo");
        assert!(read_regular(&fifo, 10, true).is_err());
        Ok(())
    }

    #[test]
    fn absolute_links_in_an_image_mean_the_images_files() -> Result<(), Box<dyn std::error::Error>>
    {
        let image = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        fs::write(outside.path().join("secret"), "outside")?;
        fs::create_dir(outside.path().join("subdir"))?;
        // `data` points at the outside directory by its absolute path, as an
        // image's `opt -> /opt` would point at the auditor's own /opt.
        symlink(outside.path(), image.path().join("data"))?;
        symlink(outside.path().join("secret"), image.path().join("file"))?;
        symlink("/", image.path().join("up"))?;
        fs::create_dir(image.path().join("real"))?;
        fs::write(image.path().join("real/inside"), "inside")?;
        for root in [
            HostRoot::new(image.path())?,
            HostRoot::new(image.path())?.user_space_resolver(),
        ] {
            check_contained(&root, outside.path())?;
        }
        Ok(())
    }

    fn check_contained(root: &HostRoot, outside: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let secret = "/data/secret";
        assert!(!root.exists(secret));
        assert!(root.metadata(secret).is_err());
        assert!(root.symlink_metadata(secret).is_err());
        assert!(root.read_capped(secret, 100).is_err());
        assert!(root.read_capped("/file", 100).is_err());
        assert!(root.metadata("/file").is_err());
        assert!(root.list_dir("/data", 10).is_err());
        assert!(root.entries("/data", 10).is_err());
        // `/up` is the image's own `/`.
        assert_eq!(root.read_capped("/up/real/inside", 100)?, b"inside");
        assert_eq!(root.list_dir("/up/real", 10)?, ["inside"]);
        assert_eq!(root.read_link("/data")?, outside.display().to_string());
        // /proc/self inside an image is the image's, not this process's.
        assert!(!root.exists("/proc/self/status"));
        Ok(())
    }

    #[test]
    fn a_users_final_link_is_not_followed() -> Result<(), Box<dyn std::error::Error>> {
        if !rustix::process::geteuid().is_root() {
            return Ok(()); // lchown needs root; CI runs as root.
        }
        let image = tempfile::tempdir()?;
        fs::create_dir(image.path().join("etc"))?;
        fs::write(image.path().join("etc/shadow"), "root:secret")?;
        fs::create_dir(image.path().join("home"))?;
        symlink("/etc/shadow", image.path().join("home/user.desktop"))?;
        symlink("/etc/shadow", image.path().join("home/admin.desktop"))?;
        std::os::unix::fs::lchown(
            image.path().join("home/user.desktop"),
            Some(1000),
            Some(1000),
        )?;
        let root = HostRoot::new(image.path())?;
        let refused = root.read_capped("/home/user.desktop", 100).err();
        assert!(
            refused
                .as_ref()
                .is_some_and(|e| e.to_string().contains("owned by uid 1000, not followed")),
            "{refused:?}"
        );
        // A link the trusted owner made is followed, inside the image.
        assert_eq!(
            root.read_capped("/home/admin.desktop", 100)?,
            b"root:secret"
        );
        Ok(())
    }
}
