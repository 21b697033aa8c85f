//! Locker access integration tests over real HTTP: the admin API, SCIM in
//! and decisions out, and the audit chain.

#[allow(dead_code)]
#[path = "../scim/common.rs"]
mod common;
#[allow(dead_code)]
mod support;
