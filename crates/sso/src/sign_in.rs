//! The verified result of a sign-in.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A verified Entra user. The identity is `(tid, oid)`: `sub` is pairwise per
/// app registration and changes with the client ID, and `email`,
/// `preferred_username` and `name` are mutable attributes that another
/// tenant's administrator can set, so they are for display only.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SignIn {
    /// Tenant GUID the user signed into (for a guest, the resource tenant), lower case.
    pub tid: String,
    /// Object ID of the user in that tenant; immutable and never reused.
    pub oid: String,
    pub sub: String,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    /// Unverified: Entra sends no `email_verified`, and the address may be
    /// set freely by a tenant administrator. Display only.
    pub email: Option<String>,
    /// Group object IDs, from the `groups` claim or, on group overage, from
    /// Microsoft Graph.
    pub groups: Vec<String>,
    /// Whether `groups` came from Microsoft Graph because of group overage.
    pub groups_from_graph: bool,
    /// App role values (`roles` claim).
    pub roles: Vec<String>,
    /// Satisfied Conditional Access authentication contexts (`acrs` claim), e.g. `c1`.
    pub auth_contexts: Vec<String>,
    /// Session ID, which Entra's front-channel logout sends alone.
    pub sid: Option<String>,
    /// Value for the `logout_hint` parameter of RP-initiated logout.
    pub login_hint: Option<String>,
    /// The raw ID token, for `id_token_hint` at logout. `Debug` does not print it.
    pub id_token: String,
    /// `exp` of the ID token, in Unix seconds.
    pub expires_at: i64,
}

impl SignIn {
    /// Returns whether the sign-in satisfied the authentication context `id` (e.g. `c1`).
    pub fn has_auth_context(&self, id: &str) -> bool {
        self.auth_contexts.iter().any(|context| context == id)
    }
}

impl fmt::Debug for SignIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignIn")
            .field("tid", &self.tid)
            .field("oid", &self.oid)
            .field("sub", &self.sub)
            .field("name", &self.name)
            .field("preferred_username", &self.preferred_username)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .field("groups_from_graph", &self.groups_from_graph)
            .field("roles", &self.roles)
            .field("auth_contexts", &self.auth_contexts)
            .field("sid", &self.sid)
            .field("login_hint", &self.login_hint)
            .field("id_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
