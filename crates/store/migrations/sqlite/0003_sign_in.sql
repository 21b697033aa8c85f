-- Single sign-on: each tenant's identity connection, browser sessions,
-- sign-ins in progress, break-glass accounts and the last sign-in of each
-- user.

-- How a tenant signs in with its identity provider. The client secret is
-- needed in clear to call the token endpoint, so it is stored as given.
CREATE TABLE identity_connections (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    settings TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Server-side sessions; the cookie carries a random id, stored here as its
-- SHA-256 hash.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    user_id TEXT,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    auth_contexts TEXT NOT NULL,
    idp_session TEXT,
    logout_hint TEXT,
    csrf_token TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX sessions_idp_session ON sessions (tenant_id, idp_session);

-- Sign-ins between the redirect to the provider and its callback, keyed by
-- the hash of `state` and bound to the browser by a cookie hash.
CREATE TABLE pending_sign_ins (
    state_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    browser_hash TEXT NOT NULL,
    pending TEXT NOT NULL,
    return_to TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Local emergency accounts that never use the identity provider.
CREATE TABLE break_glass_accounts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp_secret TEXT NOT NULL,
    failures INTEGER NOT NULL,
    locked_until TEXT,
    last_totp_step INTEGER,
    created_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, username)
);

CREATE TABLE user_sign_ins (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
