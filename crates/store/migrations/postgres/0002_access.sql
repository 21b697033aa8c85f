-- Locker access: the physical model, access policies, assignments, locker
-- credentials, the notification outbox, the audit chain and the position
-- of the lifecycle engine in the identity event stream.

-- The bank a device token belongs to, for `device_token` credentials.
ALTER TABLE credentials ADD COLUMN scope TEXT;

-- Per-tenant settings as a JSON object, such as the SCIM attribute that
-- carries badge numbers.
ALTER TABLE tenants ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';

CREATE TABLE sites (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE zones (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

CREATE TABLE banks (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, zone_id) REFERENCES zones (tenant_id, id)
);

CREATE TABLE lockers (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    bank_id TEXT NOT NULL,
    door TEXT NOT NULL,
    kind TEXT NOT NULL,
    size TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT lockers_door_unique UNIQUE (tenant_id, bank_id, door),
    FOREIGN KEY (tenant_id, bank_id) REFERENCES banks (tenant_id, id)
);

-- Every version of every policy. The newest version of a policy is in
-- force unless `retired` is set on it.
CREATE TABLE policies (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    version BIGINT NOT NULL,
    document TEXT NOT NULL,
    retired BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id, version)
);

-- Fixed assignments and flex bookings. An assignment is open until
-- `ended_at` is set, and a locker has at most one open assignment, which
-- the partial unique index enforces even when two nodes race.
CREATE TABLE assignments (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    locker_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    policy_id TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT,
    grace_until TEXT,
    ended_at TEXT,
    end_reason TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX assignments_open_locker ON assignments (tenant_id, locker_id) WHERE ended_at IS NULL;
CREATE INDEX assignments_open_user ON assignments (tenant_id, user_id) WHERE ended_at IS NULL;

-- Badge numbers, from the tenant's badge attribute in SCIM (`scim`) or
-- enrolled by the helpdesk (`enrolled`). A badge belongs to one user.
CREATE TABLE badges (
    tenant_id TEXT NOT NULL,
    badge_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, badge_id)
);
CREATE INDEX badges_user ON badges (tenant_id, user_id);

-- PINs as argon2id PHC strings, with the failure count that locks them.
CREATE TABLE pins (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

-- Bearer tokens of locker users for the app API; SHA-256 hashes only.
CREATE TABLE user_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX user_tokens_user ON user_tokens (tenant_id, user_id);

-- Notifications waiting to be sent.
CREATE TABLE outbox (
    seq BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX outbox_tenant ON outbox (tenant_id, seq);

-- The tamper-evident audit chain: each record holds the SHA-256 of its
-- content and of the record before it in the same tenant.
CREATE TABLE audit_log (
    tenant_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

-- The last identity event the lifecycle engine has applied, per tenant.
CREATE TABLE access_cursors (
    tenant_id TEXT PRIMARY KEY,
    event_seq BIGINT NOT NULL
);
