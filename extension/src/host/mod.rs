//! Collectors: what is on the host, read through a [`HostRoot`](crate::root::HostRoot).
//! Each submodule pairs pure parsers (tested on captured text) with the thin
//! I/O that feeds them. Tables combine these facts with the catalogs.

pub mod accounts;
pub mod app_updates;
pub mod appimage;
pub mod apt;
pub mod browsers;
pub mod bundles;
pub mod config;
pub mod elf;
pub mod identity;
pub mod install_logs;
pub mod macho;
pub mod packages;
pub mod plists;
pub mod processes;
pub mod recent;
pub mod rpm;
pub mod rpmmd;
pub mod services;
pub mod snapshot;
pub mod sockets;
pub mod ssh;
pub mod usb;
pub mod walk;

/// What a package manager would update an installed item to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub version: String,
    /// Newer than the installed version: an update is waiting.
    pub newer: bool,
    /// The newer version comes from a security archive or advisory.
    pub security: bool,
    /// Where it comes from: the archive (`bookworm-security`) or
    /// repository (`baseos`); empty when it is the installed version.
    pub archive: String,
    /// Who says so: apt, dnf, yum, zypper, homebrew, firefox.
    pub manager: &'static str,
}
