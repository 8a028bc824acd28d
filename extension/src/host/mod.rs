//! Collectors: what is on the host, read through a [`HostRoot`](crate::root::HostRoot).
//! Each submodule pairs pure parsers (tested on captured text) with the thin
//! I/O that feeds them. Tables combine these facts with the catalogs.

pub mod accounts;
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
pub mod processes;
pub mod rpm;
pub mod services;
pub mod snapshot;
pub mod sockets;
pub mod ssh;
pub mod usb;
pub mod walk;
