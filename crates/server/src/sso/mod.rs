//! Single sign-on with the tenant's identity provider: the identity
//! connection admin API, the relying party of each tenant, the sign-in
//! routes, and linking sign-ins to Lockgate users.

pub(crate) mod connection;
pub(crate) mod credential;
pub(crate) mod lapse;
mod link;
pub(crate) mod registry;
pub(crate) mod routes;

pub(crate) use registry::Registry;

use lockgate_store::SessionRecord;
use url::Url;

use crate::AppState;

/// Returns where the browser goes after the local session ended: the
/// provider's end-session endpoint for a provider session (OIDC
/// RP-Initiated Logout 1.0), or `None` for Lockgate's own page.
pub(crate) async fn end_session_target(
    state: &AppState,
    session: &SessionRecord,
    slug: &str,
) -> Option<String> {
    if session.principal.starts_with("break-glass:") {
        return None;
    }
    let (party, _) = registry::relying_party(state, &session.tenant_id, slug)
        .await
        .ok()
        .flatten()?;
    let back = Url::parse(&format!(
        "{}/auth/{slug}/signed-out",
        connection::public_base(state)
    ))
    .ok()?;
    party
        .end_session_url(None, session.logout_hint.as_deref(), Some(&back))
        .map(|url| url.to_string())
}
