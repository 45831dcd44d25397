-- Sessions and tokens, invitations, apps and their S2S keys, and the audit log.

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    revoked_at      INTEGER,
    revoked_reason  TEXT,
    remember_me     BOOLEAN NOT NULL,
    ip              TEXT NOT NULL,
    user_agent      TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Refresh tokens are stored as SHA-256 hashes. A used token stays (with used_at) so that its
-- re-use can be recognised and the whole session ended.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Single-use tokens sent by email (password reset), stored hashed.
CREATE TABLE one_time_tokens (
    token_hash  TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX one_time_tokens_by_user ON one_time_tokens (user_id, purpose, created_at);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    accepted_at  INTEGER,
    accepted_by  TEXT
);
CREATE INDEX invitations_by_org ON invitations (org_id, created_at);

CREATE TABLE apps (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    platform     TEXT NOT NULL CHECK (platform IN ('android', 'ios')),
    bundle_id    TEXT NOT NULL,
    store_url    TEXT NOT NULL,
    app_token    TEXT NOT NULL UNIQUE,
    attribution  TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    currency     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX apps_by_org ON apps (org_id, created_at);

-- The secret of a key is derived from the server's master key and the nonce; it is not
-- stored, so a copy of the database does not reveal it.
CREATE TABLE app_keys (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    nonce       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT,
    revoked_at  INTEGER
);
CREATE INDEX app_keys_by_app ON app_keys (app_id, created_at);

-- org_id is NULL for events tied to no organization (a failed login for an unknown email).
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    org_id      TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    actor_id    TEXT,
    actor       TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    ip          TEXT,
    user_agent  TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    details     TEXT
);
CREATE INDEX audit_log_by_org ON audit_log (org_id, id);
