//! Browser sign-in over real HTTP: break-glass accounts, sessions, the
//! portal, sign-out, and single sign-on with an OpenID provider.

#[allow(dead_code)]
mod browser;
#[allow(dead_code)]
#[path = "../scim/common.rs"]
mod common;

#[allow(dead_code)]
#[path = "../support/oidc_provider.rs"]
mod oidc_provider;

mod break_glass;
mod mobile;
mod oidc;
