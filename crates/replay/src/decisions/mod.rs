//! The open-decision benchmark: a tenant of lockers and badge-carrying
//! users on a separate `lockgate serve` process, and a load generator that
//! sends `POST /device/v1/decisions` over HTTP/1.1 keep-alive connections.
//!
//! [`setup`] builds the tenant through the CLI, the admin API and SCIM,
//! [`load`] measures decisions, [`admin`] checks the audit log afterwards,
//! [`process`] runs the server and reads its memory and CPU time from
//! `/proc`, and [`stalls`] measures how long the machine keeps a busy
//! thread from running.

pub mod admin;
pub mod floor;
pub mod load;
pub mod process;
pub mod setup;
pub mod stalls;
pub mod wire;

use serde::{Deserialize, Serialize};

/// The name of the file in the data directory that stores a [`Fixture`],
/// so a later run on the same directory can skip setup.
pub const FIXTURE_FILE: &str = "decision-bench.json";

/// A user who holds a personal locker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The badge number, the user's `employeeNumber`.
    pub badge: String,
    /// Index into [`Fixture::banks`].
    pub bank: usize,
    /// Door label of the held locker within its bank.
    pub door: u32,
}

/// A locker bank and the device token of its controller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccess {
    pub id: String,
    pub device_token: String,
}

/// Everything the measured phase needs from setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixture {
    /// The tenant's slug.
    pub tenant: String,
    pub admin_token: String,
    /// Users provisioned, with or without a locker.
    pub users: usize,
    /// Lockers imported, of every kind.
    pub lockers: usize,
    /// Doors of every bank, labelled 1 to `doors_per_bank`.
    pub doors_per_bank: u32,
    pub banks: Vec<BankAccess>,
    pub holders: Vec<Holder>,
}
