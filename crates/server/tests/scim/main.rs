//! SCIM integration tests over real HTTP.

mod common;
