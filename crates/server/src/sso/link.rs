//! Linking a sign-in to a Lockgate user. A person is `tid` + `oid`, never
//! an e-mail address. With SCIM provisioning the sign-in must match a
//! provisioned user by `externalId`; in hybrid mode an unknown user, and in
//! SSO-only mode every user, is created or updated from the token, with
//! the token's groups as memberships.

use lockgate_scim::patch::MemberChange;
use lockgate_scim::resource::MemberRef;
use lockgate_sso::SignIn;
use lockgate_store::{StoreError, WriteContext};
use serde_json::json;

use super::connection::{ConnectionSettings, LinkClaim, Mode};
use crate::AppState;

/// Why a sign-in cannot be linked, in words for the person signing in.
pub(crate) enum LinkFailure {
    Unknown,
    Inactive,
    Store(StoreError),
}

impl From<StoreError> for LinkFailure {
    fn from(error: StoreError) -> Self {
        LinkFailure::Store(error)
    }
}

fn link_value(settings: &ConnectionSettings, sign_in: &SignIn) -> Option<String> {
    match settings.external_id_claim {
        LinkClaim::Oid => Some(sign_in.oid.clone()),
        LinkClaim::Sub => Some(sign_in.sub.clone()),
        LinkClaim::PreferredUsername => sign_in.preferred_username.clone(),
    }
}

/// Returns the Lockgate user id of the person signing in.
pub(crate) async fn link(
    state: &AppState,
    tenant_id: &str,
    settings: &ConnectionSettings,
    sign_in: &SignIn,
) -> Result<String, LinkFailure> {
    let key = link_value(settings, sign_in).ok_or(LinkFailure::Unknown)?;
    let access = state.access.tenant(tenant_id).await?;
    let find = || {
        let index = access.read();
        index
            .users
            .iter()
            .find(|(_, entry)| entry.external_id.as_deref() == Some(key.as_str()) && !entry.deleted)
            .map(|(id, entry)| (id.clone(), entry.subject.active))
    };
    // A user provisioned a moment ago may wait for the lifecycle engine
    // to reach the index; a miss waits for it once.
    let found = match find() {
        Some(found) => Some(found),
        None => {
            state.access.settle(tenant_id).await?;
            find()
        }
    };
    let user = match (found, settings.mode) {
        (Some((id, _)), Mode::SsoOnly) => {
            just_in_time(state, tenant_id, sign_in, &key, Some(&id)).await?
        }
        (Some((id, true)), _) => id,
        (Some((_, false)), _) => return Err(LinkFailure::Inactive),
        (None, Mode::Provisioning) => return Err(LinkFailure::Unknown),
        (None, Mode::Hybrid | Mode::SsoOnly) => {
            just_in_time(state, tenant_id, sign_in, &key, None).await?
        }
    };
    state.store.record_sign_in(tenant_id, &user).await?;
    Ok(user)
}

/// Creates or refreshes a user and their group memberships from the token.
async fn just_in_time(
    state: &AppState,
    tenant_id: &str,
    sign_in: &SignIn,
    key: &str,
    existing: Option<&str>,
) -> Result<String, LinkFailure> {
    let store = state.store.tenant(tenant_id);
    let ctx = WriteContext {
        request_id: Some(format!("sign-in:{}:{}", sign_in.tid, sign_in.oid)),
    };
    let document = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": sign_in.preferred_username.clone().unwrap_or_else(|| sign_in.oid.clone()),
        "externalId": key,
        "displayName": sign_in.name,
        "active": true,
    });
    let user = match existing {
        Some(id) => {
            let document = document.clone();
            store
                .update_user(&ctx, id, move |_| Ok(document.clone()))
                .await?
                .id
        }
        None => store.create_user(&ctx, document).await?.id,
    };
    sync_groups(state, tenant_id, &ctx, &user, &sign_in.groups).await?;
    state.access.identity_written();
    state.access.settle(tenant_id).await?;
    Ok(user)
}

/// Makes the token's groups the user's memberships, creating groups named
/// by their object id when they are new.
async fn sync_groups(
    state: &AppState,
    tenant_id: &str,
    ctx: &WriteContext,
    user: &str,
    groups: &[String],
) -> Result<(), StoreError> {
    let store = state.store.tenant(tenant_id);
    let access = state.access.tenant(tenant_id).await?;
    let (known, current): (Vec<(String, String)>, Vec<String>) = {
        let index = access.read();
        let known = index
            .group_keys
            .iter()
            .map(|(id, key)| (key.to_string(), id.clone()))
            .collect();
        let current = index
            .parents
            .get(user)
            .map(|groups| groups.to_vec())
            .unwrap_or_default();
        (known, current)
    };
    let mut wanted = Vec::new();
    for group in groups {
        let id = match known.iter().find(|(key, _)| key == group) {
            Some((_, id)) => id.clone(),
            None => {
                let document = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": group,
                    "externalId": group,
                });
                store.create_group(ctx, document, &[]).await?.id
            }
        };
        wanted.push(id);
    }
    for group in wanted.iter().filter(|g| !current.contains(g)) {
        let member = MemberRef {
            value: user.to_string(),
            kind: Some("User".to_string()),
        };
        store
            .update_group_members(ctx, group, vec![MemberChange::Add(vec![member])])
            .await?;
    }
    for group in current.iter().filter(|g| !wanted.contains(g)) {
        store
            .update_group_members(
                ctx,
                group,
                vec![MemberChange::Remove(vec![user.to_string()])],
            )
            .await?;
    }
    Ok(())
}
