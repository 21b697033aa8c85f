//! Single sign-on with the tenant's identity provider.

use lockgate_store::SessionRecord;

use crate::AppState;

/// Returns where the browser goes after the local session ended: the
/// provider's end-session endpoint for a provider session, or `None` to
/// show Lockgate's own signed-out page.
pub(crate) async fn end_session_target(
    _state: &AppState,
    _session: &SessionRecord,
    _slug: &str,
) -> Option<String> {
    None
}
