//! Locker access integration tests over real HTTP: the admin API, SCIM in
//! and decisions out, and the audit chain.

mod audit;
#[allow(dead_code)]
#[path = "../scim/common.rs"]
mod common;
#[allow(dead_code)]
mod fixture;
mod physical;
mod place_deletion;
#[allow(dead_code)]
mod support;

mod bookings;
mod claim;
mod credentials;
mod denial_audit;
mod device_tokens;
mod end_assignment;
mod lifecycle;
mod policies;
mod postgres;
mod rejections;
mod roles;
mod step_up;
