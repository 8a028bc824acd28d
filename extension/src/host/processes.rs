//! Running processes, from `/proc` (Linux).
//!
//! A process is named by the executable behind `/proc/PID/exe`. Where that
//! link cannot be read (another user's process when not root), by `argv[0]`
//! from `/proc/PID/cmdline`, then by the kernel's `comm`, which is cut to 15
//! characters (`chrome-remote-desktop-host` shows as `chrome-remote-d`).
//! Tables that need more (a copy run under another name, a script run by an
//! interpreter) read the command line with [`read_argv`] and [`argv_names`].

use std::collections::BTreeSet;

use crate::root::{paths, HostRoot};
use crate::table::Deadline;

const CMDLINE_CAP: u64 = 64 * 1024;
const SMALL_CAP: u64 = 16 * 1024;
const MAX_PROCESSES: usize = 200_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: i64,
    /// Target of `/proc/PID/exe`, without the ` (deleted)` suffix.
    pub exe: Option<String>,
    pub exe_deleted: bool,
    pub argv: Vec<String>,
    pub comm: Option<String>,
}

impl Process {
    /// Candidate executable names, most trustworthy first, without repeats.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::with_capacity(3);
        let exe = self.exe.as_deref().map(crate::root::basename);
        let argv0 = self.argv.first().map(|a| crate::root::basename(a));
        for name in [exe, argv0, self.comm.as_deref()].into_iter().flatten() {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The path to show: the executable, else argv[0].
    pub fn path(&self) -> Option<&str> {
        self.exe
            .as_deref()
            .or(self.argv.first().map(String::as_str))
    }
}

/// Interpreters whose first argument names the program really running.
const INTERPRETERS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "perl", "ruby", "node", "java", "mono",
];

fn is_interpreter(name: &str) -> bool {
    INTERPRETERS.contains(&name) || name.starts_with("python")
}

/// Further names of a process from its command line: `argv[0]`, and for an
/// interpreter the script or program it runs (`python3 /usr/bin/xpra` ->
/// `xpra`). Pure.
pub fn argv_names<'a>(exe: Option<&str>, argv: &'a [String]) -> Vec<&'a str> {
    let mut names = Vec::new();
    let Some(argv0) = argv.first() else {
        return names;
    };
    names.push(crate::root::basename(argv0));
    let interpreter = exe.map(crate::root::basename).is_some_and(is_interpreter)
        || is_interpreter(crate::root::basename(argv0));
    if interpreter {
        if let Some(script) = argv.iter().skip(1).find(|a| !a.starts_with('-')) {
            names.push(crate::root::basename(script));
        }
    }
    names.retain(|n| !n.is_empty());
    names
}

/// Processes hidden by a mount over `/proc/PID` or a file below it (`mount
/// --bind /empty /proc/1234` hides pid 1234 from `ps`, which then reads an
/// empty directory): each pid with the first such mount. Pure.
pub fn hidden_by_mounts(
    mounts: &[crate::host::config::MountInfo],
) -> Vec<(i64, &crate::host::config::MountInfo)> {
    let mut hidden: Vec<(i64, &crate::host::config::MountInfo)> = Vec::new();
    for mount in mounts {
        let Some(rest) = mount.mount_point.strip_prefix("/proc/") else {
            continue;
        };
        let pid_part = rest.split('/').next().unwrap_or("");
        let Ok(pid) = pid_part.parse::<i64>() else {
            continue;
        };
        if !pid_part.bytes().all(|b| b.is_ascii_digit()) || hidden.iter().any(|(p, _)| *p == pid) {
            continue;
        }
        hidden.push((pid, mount));
    }
    hidden
}

/// Reads a process's command line (for names the executable does not give).
pub fn read_argv(root: &HostRoot, pid: i64) -> Vec<String> {
    root.read_prefix(&proc_path(pid, "cmdline"), CMDLINE_CAP)
        .map(|b| parse_cmdline(&b))
        .unwrap_or_default()
}

/// Splits `/proc/PID/cmdline` (NUL-separated). Pure.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// The real uid from `/proc/PID/status`. Pure.
pub fn parse_status_uid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

fn proc_path(pid: i64, leaf: &str) -> String {
    format!("{}/{pid}/{leaf}", paths::PROC)
}

/// The pids under `/proc`, or just `only` when the query pins them.
pub fn list_pids(root: &HostRoot, only: Option<&BTreeSet<i64>>) -> Vec<i64> {
    if let Some(only) = only {
        return only.iter().copied().filter(|p| *p > 0).collect();
    }
    match root.list_dir(paths::PROC, MAX_PROCESSES) {
        Ok(names) => {
            let mut pids: Vec<i64> = names.iter().filter_map(|n| n.parse().ok()).collect();
            pids.sort_unstable();
            pids
        }
        Err(e) => {
            log::warn!("{e}");
            Vec::new()
        }
    }
}

/// Reads one process; `None` when it has gone (or never existed).
pub fn read_process(root: &HostRoot, pid: i64) -> Option<Process> {
    let (exe, exe_deleted) = match root.read_link(&proc_path(pid, "exe")) {
        Ok(target) => match target.strip_suffix(" (deleted)") {
            Some(t) => (Some(t.to_string()), true),
            None => (Some(target), false),
        },
        // No executable at all: a kernel thread, a zombie, or a process that
        // has gone. None of them runs a tool, so nothing more is read.
        Err(e) if e.is_not_found() => return None,
        // Another user's process when not root: its cmdline tells.
        Err(_) => (None, false),
    };
    if exe.is_some() {
        // The executable names the process; argv and comm add nothing but
        // cost (a scan reads thousands of processes).
        return Some(Process {
            pid,
            exe,
            exe_deleted,
            argv: Vec::new(),
            comm: None,
        });
    }
    let cmdline = match root.read_capped(&proc_path(pid, "cmdline"), CMDLINE_CAP) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => return None,
        // A cmdline longer than the cap: use its start.
        Err(_) => root
            .read_prefix(&proc_path(pid, "cmdline"), CMDLINE_CAP)
            .unwrap_or_default(),
    };
    let comm = root
        .read_string_capped(&proc_path(pid, "comm"), SMALL_CAP)
        .ok()
        .map(|c| c.trim_end_matches('\n').to_string());
    if comm.is_none() && cmdline.is_empty() {
        return None;
    }
    Some(Process {
        pid,
        exe,
        exe_deleted,
        argv: parse_cmdline(&cmdline),
        comm,
    })
}

/// Every readable process; vanished ones are skipped.
pub fn processes(
    root: &HostRoot,
    only: Option<&BTreeSet<i64>>,
    deadline: Deadline,
) -> Vec<Process> {
    let mut out = Vec::new();
    for pid in list_pids(root, only) {
        if deadline.expired() {
            log::warn!("process scan stopped at the deadline");
            break;
        }
        if let Some(p) = read_process(root, pid) {
            out.push(p);
        }
    }
    out
}

pub fn process_uid(root: &HostRoot, pid: i64) -> Option<u32> {
    root.read_string_capped(&proc_path(pid, "status"), SMALL_CAP)
        .ok()
        .and_then(|s| parse_status_uid(&s))
}

/// Socket inodes held open by a process (`socket:[N]` fd links).
pub fn socket_inodes(root: &HostRoot, pid: i64, cap: usize) -> Vec<u64> {
    let dir = proc_path(pid, "fd");
    let Ok(fds) = root.list_dir(&dir, cap) else {
        return Vec::new();
    };
    fds.iter()
        .filter_map(|fd| root.read_link(&format!("{dir}/{fd}")).ok())
        .filter_map(|target| {
            target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_over_proc_entries_hide_processes() {
        let mounts = crate::host::config::parse_mountinfo(
            "23 1 0:21 / /proc rw - proc proc rw\n\
             97 23 0:45 / /proc/2999 rw - tmpfs tmpfs rw\n\
             98 23 8:1 /x /proc/3001/cmdline rw - ext4 /dev/sda1 rw\n\
             99 23 0:45 / /proc/2999 rw - tmpfs tmpfs rw\n\
             100 23 0:46 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw\n\
             101 23 0:47 / /proc/12abc rw - tmpfs tmpfs rw\n",
        );
        let hidden: Vec<(i64, &str)> = hidden_by_mounts(&mounts)
            .into_iter()
            .map(|(pid, m)| (pid, m.mount_point.as_str()))
            .collect();
        assert_eq!(hidden, [(2999, "/proc/2999"), (3001, "/proc/3001/cmdline")]);
    }

    #[test]
    fn cmdline_and_names() {
        let argv = parse_cmdline(
            b"/opt/google/chrome-remote-desktop/chrome-remote-desktop-host\0--host-config=-\0\0",
        );
        assert_eq!(argv.len(), 2);
        let p = Process {
            pid: 7,
            exe: None,
            exe_deleted: false,
            argv,
            comm: Some("chrome-remote-d".into()),
        };
        assert_eq!(p.names(), ["chrome-remote-desktop-host", "chrome-remote-d"]);
        assert!(parse_cmdline(b"").is_empty());
        assert_eq!(parse_cmdline(b"\xff\xfe\0x"), ["\u{fffd}\u{fffd}", "x"]);
    }

    #[test]
    fn names_from_argv() {
        let argv = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let xpra = argv(&["/usr/bin/python3", "-s", "/usr/bin/xpra", "start"]);
        assert_eq!(
            argv_names(Some("/usr/bin/python3.11"), &xpra),
            ["python3", "xpra"]
        );
        let renamed = argv(&["anydesk", "--tray"]);
        assert_eq!(argv_names(Some("/tmp/x/a.out"), &renamed), ["anydesk"]);
        let tv = argv(&["/bin/sh", "/opt/teamviewer/tv_bin/script/teamviewer"]);
        assert_eq!(argv_names(Some("/usr/bin/dash"), &tv), ["sh", "teamviewer"]);
        assert!(argv_names(Some("/bin/true"), &[]).is_empty());
    }

    #[test]
    fn status_uid() {
        let status = "Name:\tanydesk\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\n";
        assert_eq!(parse_status_uid(status), Some(1000));
        assert_eq!(parse_status_uid("Uid:"), None);
        assert_eq!(parse_status_uid("garbage"), None);
    }
}
