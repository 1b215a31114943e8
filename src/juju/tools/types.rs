//! The values the hook tools take and give.

use std::collections::BTreeMap;

/// A databag: Juju relation data is always string to string.
pub type Databag = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warning,
    Error,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusName {
    Active,
    Waiting,
    Maintenance,
    Blocked,
}

impl StatusName {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusName::Active => "active",
            StatusName::Waiting => "waiting",
            StatusName::Maintenance => "maintenance",
            StatusName::Blocked => "blocked",
        }
    }
}

/// The result of `network-get <binding>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Every bind address, in Juju's order ("bind address" in ops is the first).
    pub bind_addresses: Vec<String>,
    pub ingress_addresses: Vec<String>,
}

/// Who owns a new secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOwner {
    Application,
    Unit,
}

/// Which bag of a relation: this application's (leader-written) or this unit's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bag {
    App,
    Unit,
}
