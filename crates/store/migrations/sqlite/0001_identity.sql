-- Tenants, SCIM credentials, the identity store, identity events and the
-- provisioning log. Timestamps are RFC 3339 UTC text with millisecond
-- precision, so text order is time order. Booleans are 0/1 integers.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);

-- SCIM secret tokens, OAuth clients and the access tokens they obtain.
-- Only a SHA-256 hash of each secret is kept.
CREATE TABLE credentials (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    kind TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    client_id TEXT UNIQUE,
    parent_id TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE INDEX credentials_tenant ON credentials (tenant_id, kind);

CREATE TABLE scim_users (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    external_id TEXT,
    user_name TEXT NOT NULL,
    user_name_folded TEXT NOT NULL,
    display_name TEXT,
    display_name_folded TEXT,
    active INTEGER NOT NULL,
    document TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT scim_users_user_name_unique UNIQUE (tenant_id, user_name_folded)
);
CREATE INDEX scim_users_external_id ON scim_users (tenant_id, external_id);
CREATE INDEX scim_users_created ON scim_users (tenant_id, created_at, id);

CREATE TABLE scim_user_tombstones (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    external_id TEXT,
    user_name TEXT NOT NULL,
    document TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    request_id TEXT,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE scim_groups (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    external_id TEXT,
    display_name TEXT NOT NULL,
    display_name_folded TEXT NOT NULL,
    document TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX scim_groups_display_name ON scim_groups (tenant_id, display_name_folded);
CREATE INDEX scim_groups_external_id ON scim_groups (tenant_id, external_id);
CREATE INDEX scim_groups_created ON scim_groups (tenant_id, created_at, id);

CREATE TABLE scim_group_members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    group_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    member_kind TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, member_id)
);
CREATE INDEX scim_group_members_member ON scim_group_members (tenant_id, member_id);

-- Every attribute value of a resource apart from the columns above, one row
-- per leaf, so any SCIM filter compiles to SQL. `root` is the top-level
-- attribute key and `elem` the element index within a multi-valued one.
-- WITHOUT ROWID stores the rows in their primary-key order, so the table
-- is its own per-resource index and each value is written to two b-trees,
-- not three.
CREATE TABLE scim_values (
    tenant_id TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    attr TEXT NOT NULL,
    root TEXT NOT NULL,
    elem INTEGER NOT NULL,
    value TEXT NOT NULL,
    value_folded TEXT NOT NULL,
    PRIMARY KEY (tenant_id, resource_id, attr, elem, value)
) WITHOUT ROWID;
CREATE INDEX scim_values_lookup ON scim_values (tenant_id, attr, value_folded);

CREATE TABLE identity_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    object_id TEXT,
    detail TEXT NOT NULL,
    request_id TEXT,
    occurred_at TEXT NOT NULL
);
CREATE INDEX identity_events_tenant ON identity_events (tenant_id, seq);

CREATE TABLE provisioning_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    operation TEXT NOT NULL,
    resource_type TEXT,
    resource_id TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    scim_type TEXT,
    error TEXT,
    duration_us INTEGER NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX provisioning_log_tenant ON provisioning_log (tenant_id, seq);
CREATE INDEX provisioning_log_at ON provisioning_log (at);
