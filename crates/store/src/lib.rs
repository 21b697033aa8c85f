//! Lockgate's storage: one code path over SQLite (the embedded default) and
//! PostgreSQL, through sqlx's `Any` driver.
//!
//! SQL is written once with `$n` placeholders, which both SQLite and
//! PostgreSQL accept. Where the dialects differ, [`Backend`] picks the text.
//! Every query on tenant data names the tenant in its `WHERE` clause; the
//! [`TenantStore`] handle is the only way to reach that data.

mod app_tokens;
mod assignments;
mod audit;
mod batch;
mod checkpoint;
mod connect;
mod credential_cache;
mod credentials;
mod error;
mod events;
mod filter_sql;
mod groups;
mod lite;
mod locker_credentials;
mod physical;
mod policies;
mod provisioning_log;
mod resources;
mod rows;
mod secret;
mod server_claim;
mod sign_in;
mod subjects;
mod tenants;
mod token_auth;
mod users;
mod values;
mod write_tx;
mod writer;

pub use app_tokens::{AppCode, AppTokens, RefreshOutcome};
pub use assignments::{AccessChanges, AssignmentRow, BadgeSync, Booking, NewBooking, OutboxEntry};
pub use audit::{AuditDraft, AuditVerification, VERIFY_PAGE_SIZE};
pub use connect::{Backend, StoreOptions, redact as redact_url};
pub use credentials::{AccessToken, Authenticated, CredentialInfo, CredentialKind, OAuthClient};
pub use error::StoreError;
pub use locker_credentials::{BadgeRow, PinRow, user_token_hash};
pub use physical::{
    Bank, BankEntry, BankRow, ImportError, ImportSummary, IndexedLocker, LockerEntry, LockerFilter,
    LockerRecord, LockerRow, NewBank, NewLocker, NewSite, NewZone, PhysicalDocument,
    PhysicalImport, Place, ProblemKind, RowProblem, RowRef, Site, SiteEntry, SiteRow, Zone,
    ZoneEntry, ZoneRow,
};
pub use policies::{PolicyChange, StoredPolicy};
pub use provisioning_log::{LogEntry, LogQuery};
pub use resources::{ListQuery, ListResult, MemberRow, SortOrder, StoredResource, WriteContext};
pub use secret::{Secret, hash_secret_text};
pub use server_claim::{ClaimCheck, ServerClaim};
pub use sign_in::{BreakGlassAccount, NewSession, PendingSignIn, SessionRecord};
pub use subjects::{GroupRow, Membership, SubjectRow};
pub use tenants::Tenant;

use sqlx::AnyPool;

/// The database handle. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Reads; several connections.
    reader: AnyPool,
    /// Writes. On SQLite this pool has one connection, so write
    /// transactions queue in-process instead of failing with SQLITE_BUSY.
    writer: AnyPool,
    /// On SQLite, the thread that runs write transactions.
    write_thread: Option<writer::WriteThread>,
    credential_cache: std::sync::Arc<credential_cache::CredentialCache>,
    /// On SQLite, the last audit record of each tenant, so an append need
    /// not read it first (see `audit::HeadCache`).
    audit_heads: audit::HeadCache,
    /// On SQLite, the database file, beside which a server claims it.
    sqlite_path: Option<std::path::PathBuf>,
}

impl Store {
    /// Adapts a read whose placeholders run `$1, $2, ...` in order to the
    /// backend. On SQLite they become anonymous, which binds long `IN`
    /// lists in linear rather than quadratic time.
    pub(crate) fn read_sql(&self, sql: String) -> String {
        match self.backend {
            Backend::Sqlite => batch::sequential_anonymous(sql),
            Backend::Postgres => sql,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Returns a handle for one tenant's data.
    pub fn tenant(&self, tenant_id: &str) -> TenantStore {
        TenantStore {
            store: self.clone(),
            tenant_id: tenant_id.to_string(),
        }
    }

    /// Checks that the database responds.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Closes both pools, waiting for running queries to finish.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

/// Access to one tenant's users, groups, events and log. Cheap to clone.
#[derive(Clone)]
pub struct TenantStore {
    store: Store,
    tenant_id: String,
}

impl TenantStore {
    pub fn tenant_id(&self) -> &str {
        &self.tenant_id
    }
}
