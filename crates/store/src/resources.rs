//! Types and helpers shared by users and groups.

use lockgate_scim::filter::{AttrRef, Filter};
use lockgate_scim::schema::ResourceKind;
use serde_json::Value;
use sqlx::Row;

use crate::batch::bind_owned;
use crate::filter_sql::{self, Bind, SqlBuilder};
use crate::{StoreError, TenantStore};

/// The origin of a write, which ties identity events to the SCIM request that caused them.
#[derive(Debug, Clone, Default)]
pub struct WriteContext {
    pub request_id: Option<String>,
}

/// A user or group as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResource {
    pub id: String,
    pub document: Value,
    pub version: i64,
    pub created_at: String,
    pub modified_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// A list request (RFC 7644 §3.4.2).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort_by: Option<AttrRef>,
    pub sort_order: SortOrder,
    /// 1-based.
    pub start_index: u64,
    pub count: u64,
}

#[derive(Debug, Clone)]
pub struct ListResult {
    pub total: u64,
    pub resources: Vec<StoredResource>,
}

/// One membership row with the member's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub group_id: String,
    pub member_id: String,
    /// `User` or `Group`.
    pub member_kind: String,
    pub display: Option<String>,
}

pub(crate) fn resource_from_row(
    row: &impl crate::rows::Columns,
) -> Result<StoredResource, StoreError> {
    let document: String = row.try_get("document")?;
    Ok(StoredResource {
        id: row.try_get("id")?,
        document: serde_json::from_str(&document)
            .map_err(|e| StoreError::Corrupt(format!("resource document: {e}")))?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        modified_at: row.try_get("modified_at")?,
    })
}

pub(crate) fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "scim_users",
        ResourceKind::Group => "scim_groups",
    }
}

/// `$1, $2, ...` style placeholders for an `IN` list starting at `first`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl TenantStore {
    /// Reads a resource inside a write transaction; a missing one is
    /// `NotFound` naming its type and id.
    pub(crate) async fn read_for_update(
        &self,
        tx: &mut crate::write_tx::WriteTx,
        kind: ResourceKind,
        id: &str,
    ) -> Result<StoredResource, StoreError> {
        let sql = format!(
            "SELECT id, document, version, created_at, modified_at FROM {} WHERE tenant_id = $1 AND id = $2",
            table(kind)
        );
        let row = tx
            .fetch_optional(
                sql,
                vec![
                    Bind::Text(self.tenant_id.clone()),
                    Bind::Text(id.to_string()),
                ],
            )
            .await?;
        match row {
            Some(row) => resource_from_row(&row),
            None => Err(StoreError::NotFound(format!("{} \"{id}\"", kind.as_str()))),
        }
    }

    pub(crate) async fn get_resource(
        &self,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        let sql = format!(
            "SELECT id, document, version, created_at, modified_at FROM {} WHERE tenant_id = $1 AND id = $2",
            table(kind)
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .bind(id)
            .fetch_optional(&self.store.reader)
            .await?;
        row.as_ref().map(resource_from_row).transpose()
    }

    /// Runs a list request: the filter compiled to SQL, a stable order
    /// (the sort key, then creation time, then id) and one page.
    pub(crate) async fn list_resources(
        &self,
        kind: ResourceKind,
        query: &ListQuery,
    ) -> Result<ListResult, StoreError> {
        let mut b = SqlBuilder::new(self.store.backend, &self.tenant_id);
        let condition = match &query.filter {
            Some(filter) => filter_sql::compile(&mut b, kind, filter)?,
            None => "1 = 1".to_string(),
        };
        let where_clause = format!(
            "FROM {} r WHERE r.tenant_id = $1 AND {condition}",
            table(kind)
        );
        let where_binds = b.binds.len();
        let direction = match query.sort_order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        let order = match &query.sort_by {
            Some(attr) => {
                let expr = filter_sql::sort_expression(&mut b, kind, attr)?;
                // Missing values sort last on both backends.
                format!("({expr}) IS NULL, {expr} {direction}, r.created_at, r.id")
            }
            None => "r.created_at, r.id".to_string(),
        };
        // LIMIT is an integer literal, not a parameter: SQLite re-prepares
        // a statement every time a parameter that its LIMIT uses is bound,
        // so a bound LIMIT costs a full parse per request. OFFSET stays
        // bound, so that paging through a list reuses one statement.
        let limit = query.count.min(i64::MAX as u64);
        let offset = b.param(Bind::Int(
            query.start_index.saturating_sub(1).min(i64::MAX as u64) as i64,
        ));
        // The window count gives totalResults with the page in one query.
        let page_sql = format!(
            "SELECT r.id, r.document, r.version, r.created_at, r.modified_at, COUNT(*) OVER () AS total \
             {where_clause} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let rows = bind_owned(sqlx::query(sqlx::AssertSqlSafe(page_sql)), b.binds.clone())
            .fetch_all(&self.store.reader)
            .await?;
        let total: i64 = match rows.first() {
            Some(row) => row.try_get("total")?,
            // No row means no match at all, unless the page started past
            // the end or was empty by request; then count separately.
            None if query.start_index <= 1 && query.count > 0 => 0,
            None => {
                let count_sql = format!("SELECT COUNT(*) AS n {where_clause}");
                bind_owned(
                    sqlx::query(sqlx::AssertSqlSafe(count_sql)),
                    b.binds[..where_binds].to_vec(),
                )
                .fetch_one(&self.store.reader)
                .await?
                .try_get("n")?
            }
        };
        Ok(ListResult {
            total: total as u64,
            resources: rows
                .iter()
                .map(resource_from_row)
                .collect::<Result<_, _>>()?,
        })
    }
}
