//! Locker access: the physical model, access policies, the entitlement
//! engine, the joiner/mover/leaver lifecycle diff and open decisions. Every
//! function here is pure and takes the current time as an argument.

pub mod decision;
pub mod document;
pub mod entitlement;
pub mod lifecycle;
pub mod model;
pub mod policy;
pub mod subject;
pub mod window;

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod testkit;
