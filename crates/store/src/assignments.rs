//! Assignments, bookings, the outbox and the lifecycle engine's cursor.
//! The engine writes everything one identity change causes (assignments,
//! locker states, notifications, revoked tokens, audit records and its new
//! position in the event stream) in one transaction, so a crash replays
//! the change instead of applying half of it.

use lockgate_domain::timestamp;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{AuditDraft, append_in};
use crate::batch::{Batch, opt, text};
use crate::filter_sql::Bind;
use crate::write_tx::WriteTx;
use crate::{Backend, StoreError, TenantStore};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AssignmentRow {
    pub id: String,
    pub locker_id: String,
    pub user_id: String,
    pub policy_id: String,
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub grace_until: Option<String>,
}

/// A notification for the outbox.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxEntry {
    /// `owner`, `manager` or `facilities`.
    pub recipient: String,
    /// The user the notification is about.
    pub user_id: String,
    pub kind: String,
    pub detail: Value,
}

/// A badge taken from the tenant's badge attribute in SCIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeSync {
    pub user_id: String,
    /// The new badge number, or `None` when the attribute was cleared.
    pub badge_id: Option<String>,
}

/// Everything one pass of the lifecycle engine changes.
#[derive(Debug, Default)]
pub struct AccessChanges {
    pub assign: Vec<AssignmentRow>,
    /// Assignment id and the end of its grace period, or `None` to cancel it.
    pub grace: Vec<(String, Option<String>)>,
    /// Assignment id and the reason it ended.
    pub end: Vec<(String, String)>,
    /// Whether every assignment in `end` must still be open. When one has
    /// ended meanwhile, nothing is written and the result is `NotFound`.
    /// An end by hand sets it; an engine pass ends what is still open.
    pub end_must_apply: bool,
    /// Locker id and its new state.
    pub locker_states: Vec<(String, String)>,
    pub outbox: Vec<OutboxEntry>,
    /// Users whose app tokens stop working.
    pub revoke_tokens: Vec<String>,
    pub badges: Vec<BadgeSync>,
    pub audit: Vec<AuditDraft>,
    /// The last identity event this pass applied.
    pub cursor: Option<i64>,
}

impl AccessChanges {
    pub fn is_empty(&self) -> bool {
        self.assign.is_empty()
            && self.grace.is_empty()
            && self.end.is_empty()
            && self.locker_states.is_empty()
            && self.outbox.is_empty()
            && self.revoke_tokens.is_empty()
            && self.badges.is_empty()
            && self.audit.is_empty()
            && self.cursor.is_none()
    }
}

const ASSIGNMENT_COLUMNS: &str =
    "id, locker_id, user_id, policy_id, starts_at, ends_at, grace_until";

fn assignment_from_row(row: &AnyRow) -> Result<AssignmentRow, StoreError> {
    Ok(AssignmentRow {
        id: row.try_get("id")?,
        locker_id: row.try_get("locker_id")?,
        user_id: row.try_get("user_id")?,
        policy_id: row.try_get("policy_id")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        grace_until: row.try_get("grace_until")?,
    })
}

fn push_insert(batch: &mut Batch, tenant_id: &str, row: &AssignmentRow) {
    batch.push(
        "INSERT INTO assignments (tenant_id, id, locker_id, user_id, policy_id, starts_at, ends_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            text(tenant_id),
            text(&row.id),
            text(&row.locker_id),
            text(&row.user_id),
            text(&row.policy_id),
            text(&row.starts_at),
            opt(row.ends_at.as_deref()),
        ],
    );
}

/// A flex booking to make: its user, the policy that allows it, how many
/// lockers the policy lets the user hold at once, and when it ends.
#[derive(Debug, Clone)]
pub struct NewBooking {
    pub user_id: String,
    pub policy_id: String,
    pub quota: u32,
    pub ends_at: String,
}

/// The outcome of a booking request.
#[derive(Debug, Clone)]
pub enum Booking {
    Booked(AssignmentRow),
    /// The user already holds `held` lockers under the policy, its quota.
    QuotaReached {
        held: i64,
    },
    /// Every candidate locker was taken.
    NoFreeLocker,
}

impl TenantStore {
    /// Assignments and bookings that have not ended.
    pub async fn open_assignments(&self) -> Result<Vec<AssignmentRow>, StoreError> {
        let sql = format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE tenant_id = $1 AND ended_at IS NULL"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&self.tenant_id)
            .fetch_all(&self.store.reader)
            .await?;
        rows.iter().map(assignment_from_row).collect()
    }

    /// The last identity event the lifecycle engine applied, or 0.
    pub async fn access_cursor(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT event_seq FROM access_cursors WHERE tenant_id = $1")
            .bind(&self.tenant_id)
            .fetch_optional(&self.store.reader)
            .await?;
        Ok(row
            .map(|r| r.try_get("event_seq"))
            .transpose()?
            .unwrap_or(0))
    }

    /// The newest identity event of the tenant, or 0.
    pub async fn last_event_seq(&self) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) AS seq FROM identity_events WHERE tenant_id = $1",
        )
        .bind(&self.tenant_id)
        .fetch_one(&self.store.reader)
        .await?;
        Ok(row.try_get("seq")?)
    }

    /// Returns when and why an assignment ended, or `None` when it is open
    /// or unknown.
    pub async fn assignment_end(
        &self,
        id: &str,
    ) -> Result<Option<(String, Option<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT ended_at, end_reason FROM assignments \
             WHERE tenant_id = $1 AND id = $2 AND ended_at IS NOT NULL",
        )
        .bind(&self.tenant_id)
        .bind(id)
        .fetch_optional(&self.store.reader)
        .await?;
        match row {
            Some(row) => Ok(Some((row.try_get("ended_at")?, row.try_get("end_reason")?))),
            None => Ok(None),
        }
    }

    /// Writes one engine pass in one transaction.
    pub async fn apply_changes(&self, changes: AccessChanges) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let this = self.clone();
        self.store
            .run_write(move || async move { this.apply_changes_now(changes).await })
            .await
    }

    async fn apply_changes_now(&self, changes: AccessChanges) -> Result<(), StoreError> {
        let tenant = self.tenant_id.as_str();
        let now = timestamp::now();
        let mut batch = Batch::default();
        let unchecked_ends = if changes.end_must_apply {
            &[][..]
        } else {
            &changes.end[..]
        };
        for (id, reason) in unchecked_ends {
            batch.push(
                "UPDATE assignments SET ended_at = $1, end_reason = $2 \
                 WHERE tenant_id = $3 AND id = $4 AND ended_at IS NULL",
                vec![text(&now), text(reason), text(tenant), text(id)],
            );
        }
        for row in &changes.assign {
            push_insert(&mut batch, tenant, row);
        }
        for (id, until) in &changes.grace {
            batch.push(
                "UPDATE assignments SET grace_until = $1 WHERE tenant_id = $2 AND id = $3",
                vec![opt(until.as_deref()), text(tenant), text(id)],
            );
        }
        for (locker, state) in &changes.locker_states {
            batch.push(
                "UPDATE lockers SET state = $1, modified_at = $2 WHERE tenant_id = $3 AND id = $4",
                vec![text(state), text(&now), text(tenant), text(locker)],
            );
        }
        for entry in &changes.outbox {
            batch.push(
                "INSERT INTO outbox (tenant_id, recipient, user_id, kind, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                vec![
                    text(tenant),
                    text(&entry.recipient),
                    text(&entry.user_id),
                    text(&entry.kind),
                    text(entry.detail.to_string()),
                    text(&now),
                ],
            );
        }
        for user in &changes.revoke_tokens {
            batch.push(
                "UPDATE user_tokens SET revoked_at = $1 \
                 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL",
                vec![text(&now), text(tenant), text(user)],
            );
            batch.push(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL",
                vec![text(&now), text(tenant), text(user)],
            );
            batch.push(
                "DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2",
                vec![text(tenant), text(user)],
            );
        }
        for sync in &changes.badges {
            push_badge_sync(&mut batch, tenant, sync, &now);
        }
        if let Some(seq) = changes.cursor {
            batch.push(
                "INSERT INTO access_cursors (tenant_id, event_seq) VALUES ($1, $2) \
                 ON CONFLICT (tenant_id) DO UPDATE SET event_seq = excluded.event_seq",
                vec![text(tenant), Bind::Int(seq)],
            );
        }
        let mut tx = WriteTx::begin(&self.store).await?;
        if changes.end_must_apply {
            for (id, reason) in &changes.end {
                let ended = tx
                    .write_checked(
                        "UPDATE assignments SET ended_at = $1, end_reason = $2 \
                         WHERE tenant_id = $3 AND id = $4 AND ended_at IS NULL",
                        vec![text(&now), text(reason), text(tenant), text(id)],
                    )
                    .await?;
                if ended == 0 {
                    tx.rollback().await?;
                    return Err(StoreError::NotFound(format!("open assignment \"{id}\"")));
                }
            }
        }
        tx.write(batch).await?;
        append_in(&mut tx, self.store.backend, tenant, changes.audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Books `ends_at` on the first of `candidates` (locker ids, in order of
    /// preference) that has no open booking or assignment, ending expired
    /// bookings first. The partial unique index decides races, so two
    /// requests never get the same locker, on one node or several. The
    /// user's open assignments under `policy_id` are counted against
    /// `quota` in the same transaction, so parallel requests cannot pass it.
    pub async fn book(
        &self,
        request: NewBooking,
        candidates: Vec<String>,
        audit: AuditDraft,
    ) -> Result<Booking, StoreError> {
        let this = self.clone();
        self.store
            .run_write(move || async move { this.book_now(request, candidates, audit).await })
            .await
    }

    async fn book_now(
        &self,
        request: NewBooking,
        candidates: Vec<String>,
        mut audit: AuditDraft,
    ) -> Result<Booking, StoreError> {
        let NewBooking {
            user_id,
            policy_id,
            quota,
            ends_at,
        } = request;
        let (user_id, policy_id) = (user_id.as_str(), policy_id.as_str());
        let tenant = self.tenant_id.as_str();
        let now = timestamp::now();
        let mut tx = WriteTx::begin(&self.store).await?;
        let mut batch = Batch::default();
        // Bookings that ran out free their lockers before the search, in
        // case the engine has not ended them yet.
        batch.push(
            "UPDATE lockers SET state = 'available', modified_at = $2 \
             WHERE tenant_id = $1 AND state = 'assigned' AND id IN (SELECT locker_id FROM assignments \
             WHERE tenant_id = $1 AND ends_at IS NOT NULL AND ends_at <= $2 AND ended_at IS NULL)",
            vec![text(tenant), text(&now)],
        );
        batch.push(
            "UPDATE assignments SET ended_at = ends_at, end_reason = 'booking_ended' \
             WHERE tenant_id = $1 AND ends_at IS NOT NULL AND ends_at <= $2 AND ended_at IS NULL",
            vec![text(tenant), text(&now)],
        );
        tx.write(batch).await?;
        let held = self.held_under(&mut tx, user_id, policy_id).await?;
        if held >= i64::from(quota) {
            tx.commit().await?;
            return Ok(Booking::QuotaReached { held });
        }
        for locker in candidates {
            let row = AssignmentRow {
                id: uuid::Uuid::now_v7().to_string(),
                locker_id: locker,
                user_id: user_id.to_string(),
                policy_id: policy_id.to_string(),
                starts_at: now.clone(),
                ends_at: Some(ends_at.clone()),
                grace_until: None,
            };
            let inserted = tx
                .write_returning(
                    "INSERT INTO assignments (tenant_id, id, locker_id, user_id, policy_id, starts_at, ends_at) \
                     SELECT $1, $2, $3, $4, $5, $6, $7 \
                     WHERE EXISTS (SELECT 1 FROM lockers WHERE tenant_id = $1 AND id = $3 AND state = 'available') \
                     ON CONFLICT (tenant_id, locker_id) WHERE ended_at IS NULL DO NOTHING RETURNING id",
                    vec![
                        text(tenant),
                        text(&row.id),
                        text(&row.locker_id),
                        text(&row.user_id),
                        text(&row.policy_id),
                        text(&row.starts_at),
                        opt(row.ends_at.as_deref()),
                    ],
                )
                .await?;
            if inserted.is_empty() {
                continue;
            }
            let mut taken = Batch::default();
            taken.push(
                "UPDATE lockers SET state = 'assigned', modified_at = $1 \
                 WHERE tenant_id = $2 AND id = $3 AND state = 'available'",
                vec![text(&now), text(tenant), text(&row.locker_id)],
            );
            tx.write(taken).await?;
            audit.subject = row.locker_id.clone();
            if let Value::Object(detail) = &mut audit.detail {
                detail.insert("assignment".into(), Value::String(row.id.clone()));
                detail.insert("ends_at".into(), Value::String(ends_at.clone()));
            }
            append_in(&mut tx, self.store.backend, tenant, vec![audit]).await?;
            tx.commit().await?;
            return Ok(Booking::Booked(row));
        }
        tx.commit().await?;
        Ok(Booking::NoFreeLocker)
    }

    /// Counts the user's open assignments under a policy. On PostgreSQL it
    /// first takes a lock for the user that lasts until the transaction
    /// ends, so a second booking of the user counts after this one commits.
    /// SQLite runs one write transaction at a time anyway.
    async fn held_under(
        &self,
        tx: &mut WriteTx,
        user_id: &str,
        policy_id: &str,
    ) -> Result<i64, StoreError> {
        if self.store.backend == Backend::Postgres {
            // The two-key form, whose keys never meet the one-key locks of
            // the audit chain. The first key, 1, stands for bookings.
            tx.fetch_all(
                "SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(1, hashtext($1))) AS lock",
                vec![text(format!("{}:{user_id}", self.tenant_id))],
            )
            .await?;
        }
        let row = tx
            .fetch_optional(
                "SELECT COUNT(*) AS held FROM assignments \
                 WHERE tenant_id = $1 AND user_id = $2 AND policy_id = $3 AND ended_at IS NULL",
                vec![text(&self.tenant_id), text(user_id), text(policy_id)],
            )
            .await?;
        Ok(match row {
            Some(row) => row.try_get("held")?,
            None => 0,
        })
    }

    /// Outbox entries, newest first.
    pub async fn outbox(&self, limit: i64) -> Result<Vec<(i64, OutboxEntry, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, recipient, user_id, kind, detail, created_at FROM outbox \
             WHERE tenant_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(&self.tenant_id)
        .bind(limit)
        .fetch_all(&self.store.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok((
                    row.try_get("seq")?,
                    OutboxEntry {
                        recipient: row.try_get("recipient")?,
                        user_id: row.try_get("user_id")?,
                        kind: row.try_get("kind")?,
                        detail: serde_json::from_str(&detail)
                            .map_err(|e| StoreError::Corrupt(format!("outbox detail: {e}")))?,
                    },
                    row.try_get("created_at")?,
                ))
            })
            .collect()
    }
}

/// Replaces the SCIM-sourced badge of a user. An enrolled badge with the
/// same number is left alone: the helpdesk's enrolment wins.
fn push_badge_sync(batch: &mut Batch, tenant: &str, sync: &BadgeSync, now: &str) {
    batch.push(
        "DELETE FROM badges WHERE tenant_id = $1 AND user_id = $2 AND source = 'scim'",
        vec![text(tenant), text(&sync.user_id)],
    );
    if let Some(badge) = &sync.badge_id {
        batch.push(
            "INSERT INTO badges (tenant_id, badge_id, user_id, source, created_at) \
             VALUES ($1, $2, $3, 'scim', $4) ON CONFLICT (tenant_id, badge_id) DO NOTHING",
            vec![text(tenant), text(badge), text(&sync.user_id), text(now)],
        );
    }
}
