//! What one table call has read of the host, read at most once.
//!
//! Tables that need the same facts (processes, packages, services) share
//! them through the call's snapshot instead of reading `/proc` or the dpkg
//! database twice: `security_control_health` reuses what it read for its own
//! checks when it asks `remote_access_tools` for remote access evidence.

use std::cell::{OnceCell, RefCell};

use crate::host::accounts::Accounts;
use crate::host::bundles::{self, Bundle};
use crate::host::packages::{self, Package};
use crate::host::processes::{self, Process};
use crate::host::services::{self, ServiceEntry};
use crate::root::HostRoot;
use crate::table::Deadline;

pub struct Snapshot<'a> {
    root: &'a HostRoot,
    deadline: Deadline,
    accounts: OnceCell<Accounts>,
    processes: OnceCell<Vec<Process>>,
    packages: OnceCell<Vec<Package>>,
    services: OnceCell<Vec<ServiceEntry>>,
    bundles: OnceCell<Vec<Bundle>>,
    warnings: RefCell<Vec<String>>,
}

impl<'a> Snapshot<'a> {
    pub fn new(root: &'a HostRoot, deadline: Deadline) -> Self {
        Snapshot {
            root,
            deadline,
            accounts: OnceCell::new(),
            processes: OnceCell::new(),
            packages: OnceCell::new(),
            services: OnceCell::new(),
            bundles: OnceCell::new(),
            warnings: RefCell::new(Vec::new()),
        }
    }

    pub fn root(&self) -> &'a HostRoot {
        self.root
    }

    pub fn accounts(&self) -> &Accounts {
        self.accounts.get_or_init(|| Accounts::load(self.root))
    }

    /// Every readable process.
    pub fn processes(&self) -> &[Process] {
        self.processes
            .get_or_init(|| processes::processes(self.root, None, self.deadline))
    }

    /// dpkg, RPM, snap and flatpak packages.
    pub fn packages(&self) -> &[Package] {
        self.packages.get_or_init(|| {
            let mut warnings = Vec::new();
            let mut all = packages::dpkg_packages(self.root, &mut warnings);
            all.extend(packages::rpm_packages(self.root, &mut warnings));
            all.extend(packages::snap_packages(self.root));
            all.extend(packages::flatpak_packages(
                self.root,
                &self.accounts().homes,
            ));
            self.warnings.borrow_mut().extend(warnings);
            all
        })
    }

    /// systemd units, XDG autostart entries and launchd jobs, system-wide
    /// and per user.
    pub fn services(&self) -> &[ServiceEntry] {
        self.services
            .get_or_init(|| services::services(self.root, &self.accounts().homes))
    }

    /// macOS application bundles.
    pub fn bundles(&self) -> &[Bundle] {
        self.bundles.get_or_init(|| {
            let mut warnings = Vec::new();
            let found = bundles::bundles(self.root, &self.accounts().homes, &mut warnings);
            self.warnings.borrow_mut().extend(warnings);
            found
        })
    }

    /// Problems met while reading, once each.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.borrow_mut())
    }
}
