-- Tokens of the mobile app (OAuth 2.0 for native apps, RFC 8252): one-time
-- authorization codes bound to a PKCE challenge, and rotating refresh
-- tokens grouped in families so a reused one revokes its whole family.
-- Access tokens are rows of user_tokens with an expiry.

ALTER TABLE user_tokens ADD COLUMN expires_at TEXT;

CREATE TABLE app_codes (
    code_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    auth_contexts TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    auth_contexts TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (tenant_id, family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (tenant_id, user_id);
