//! Reading users, groups and memberships in the shape the access index
//! needs: everything at start, and single users after an identity event.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::resources::placeholders;
use crate::{StoreError, TenantStore};

/// A user as the access index sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectRow {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: String,
    pub display_name: Option<String>,
    pub active: bool,
    pub document: Value,
    /// Increases with every change, so a stale read never overwrites a
    /// newer state in the index.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: String,
    pub external_id: Option<String>,
    pub display_name: String,
}

/// One membership: `member_id` is a user or, for nested groups, a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub group_id: String,
    pub member_id: String,
    pub member_is_group: bool,
}

fn subject_from_row(row: &AnyRow) -> Result<SubjectRow, StoreError> {
    let document: String = row.try_get("document")?;
    let active: i64 = row.try_get("active")?;
    let id: String = row.try_get("id")?;
    Ok(SubjectRow {
        document: serde_json::from_str(&document)
            .map_err(|e| StoreError::Corrupt(format!("user {id}: document: {e}")))?,
        id,
        external_id: row.try_get("external_id")?,
        user_name: row.try_get("user_name")?,
        display_name: row.try_get("display_name")?,
        active: active != 0,
        version: row.try_get("version")?,
    })
}

const SUBJECT_COLUMNS: &str = "id, external_id, user_name, display_name, active, document, version";

impl TenantStore {
    /// Every user of the tenant.
    pub async fn all_subjects(&self) -> Result<Vec<SubjectRow>, StoreError> {
        let sql = format!("SELECT {SUBJECT_COLUMNS} FROM scim_users WHERE tenant_id = $1");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter().map(subject_from_row).collect()
    }

    /// Users with ids after `after_id`, in id order, at most `limit`. Read
    /// page by page, 100,000 users never hold all their documents in
    /// memory at once.
    pub async fn subjects_after(
        &self,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<SubjectRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBJECT_COLUMNS} FROM scim_users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT {limit}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .bind(after_id)
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter().map(subject_from_row).collect()
    }

    /// The users with the given ids that exist; a deleted user is missing.
    pub async fn subjects(&self, ids: &[String]) -> Result<Vec<SubjectRow>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {SUBJECT_COLUMNS} FROM scim_users WHERE tenant_id = $1 AND id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(self.store.read_sql(sql))).bind(&self.tenant_id);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.store.reader).await? {
                out.push(subject_from_row(&row)?);
            }
        }
        Ok(out)
    }

    pub async fn all_groups(&self) -> Result<Vec<GroupRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, external_id, display_name FROM scim_groups WHERE tenant_id = $1",
        )
        .bind(&self.tenant_id)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(GroupRow {
                    id: row.try_get("id")?,
                    external_id: row.try_get("external_id")?,
                    display_name: row.try_get("display_name")?,
                })
            })
            .collect()
    }

    /// Every membership of the tenant, users and nested groups alike.
    pub async fn all_memberships(&self) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query(
            "SELECT group_id, member_id, member_kind FROM scim_group_members WHERE tenant_id = $1",
        )
        .bind(&self.tenant_id)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter().map(membership_from_row).collect()
    }

    /// Group-in-group memberships of the tenant.
    pub async fn nested_memberships(&self) -> Result<Vec<Membership>, StoreError> {
        let rows = sqlx::query(
            "SELECT group_id, member_id, member_kind FROM scim_group_members \
             WHERE tenant_id = $1 AND member_kind = 'Group'",
        )
        .bind(&self.tenant_id)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter().map(membership_from_row).collect()
    }

    /// Memberships of the given members (direct groups of users or groups).
    pub async fn memberships_of(
        &self,
        member_ids: &[String],
    ) -> Result<Vec<Membership>, StoreError> {
        let mut out = Vec::new();
        for chunk in member_ids.chunks(500) {
            let sql = format!(
                "SELECT group_id, member_id, member_kind FROM scim_group_members \
                 WHERE tenant_id = $1 AND member_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(self.store.read_sql(sql))).bind(&self.tenant_id);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.store.reader).await? {
                out.push(membership_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// User members of the given groups, directly.
    pub async fn user_members_of(&self, group_ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for chunk in group_ids.chunks(500) {
            let sql = format!(
                "SELECT member_id FROM scim_group_members \
                 WHERE tenant_id = $1 AND member_kind = 'User' AND group_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut query =
                sqlx::query(sqlx::AssertSqlSafe(self.store.read_sql(sql))).bind(&self.tenant_id);
            for id in chunk {
                query = query.bind(id);
            }
            for row in query.fetch_all(&self.store.reader).await? {
                out.push(row.try_get("member_id")?);
            }
        }
        Ok(out)
    }
}

fn membership_from_row(row: &AnyRow) -> Result<Membership, StoreError> {
    let kind: String = row.try_get("member_kind")?;
    Ok(Membership {
        group_id: row.try_get("group_id")?,
        member_id: row.try_get("member_id")?,
        member_is_group: kind == "Group",
    })
}

impl TenantStore {
    /// A value that changes whenever a locker is added or removed, by this
    /// process or another one writing the same database (a CLI import).
    /// State changes do not count: the engine makes them all the time, and
    /// the admin API reloads the index after its own.
    pub async fn locker_fingerprint(&self) -> Result<String, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS lockers, COALESCE(MAX(created_at), '') AS latest \
             FROM lockers WHERE tenant_id = $1",
        )
        .bind(&self.tenant_id)
        .fetch_one(&self.store.reader)
        .await?;
        let lockers: i64 = row.try_get("lockers")?;
        let latest: String = row.try_get("latest")?;
        Ok(format!("{lockers}:{latest}"))
    }

    /// Every locker with where it sits and its door label, for the index.
    pub async fn locker_snapshot(
        &self,
    ) -> Result<Vec<(lockgate_domain::access::model::Locker, String)>, StoreError> {
        use lockgate_domain::access::model::{BankId, Locker, LockerId, SiteId, ZoneId};
        let rows = sqlx::query(
            "SELECT l.id, l.bank_id, l.door, l.kind, l.size, l.state, b.zone_id, z.site_id \
             FROM lockers l \
             JOIN banks b ON b.tenant_id = l.tenant_id AND b.id = l.bank_id \
             JOIN zones z ON z.tenant_id = l.tenant_id AND z.id = b.zone_id \
             WHERE l.tenant_id = $1",
        )
        .bind(&self.tenant_id)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let locker = Locker {
                    id: LockerId::new(row.try_get::<String, _>("id")?),
                    bank: BankId::new(row.try_get::<String, _>("bank_id")?),
                    zone: ZoneId::new(row.try_get::<String, _>("zone_id")?),
                    site: SiteId::new(row.try_get::<String, _>("site_id")?),
                    kind: parse("kind", row.try_get("kind")?)?,
                    size: parse("size", row.try_get("size")?)?,
                    state: parse("state", row.try_get("state")?)?,
                };
                Ok((locker, row.try_get("door")?))
            })
            .collect()
    }
}

/// Parses an enum stored as its snake_case serde name.
fn parse<T: serde::de::DeserializeOwned>(column: &str, text: String) -> Result<T, StoreError> {
    serde_json::from_value(Value::String(text.clone()))
        .map_err(|_| StoreError::Corrupt(format!("locker {column} {text:?}")))
}
