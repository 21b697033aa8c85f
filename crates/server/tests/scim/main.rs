//! SCIM integration tests over real HTTP against a real database.

mod common;

mod concurrency;
mod credentials;
mod discovery;
mod entra_bugs;
mod entra_requests;
mod filters;
mod isolation;
mod postgres;
mod provisioning_cycle;
mod provisioning_log;
mod rejections;
