-- Accounts, organizations and memberships.
-- Ids are UUID text; times are milliseconds since the Unix epoch (UTC), as in SQLite, so that
-- one set of queries serves both backends.
--
-- Row-level security is the second wall between tenants (the first is the scoped handles in
-- the storage crate). Policies read three settings that the storage layer sets per
-- transaction: `unmogrowp.org_id` (the organization a request acts in), `unmogrowp.user_id`
-- (the signed-in user, to list their own memberships) and `unmogrowp.system` (background
-- work and lookups by unguessable token that must see every tenant). With none set, a tenant
-- table shows no rows.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE memberships (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);

CREATE FUNCTION unmogrowp_org() RETURNS TEXT LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('unmogrowp.org_id', true), '') $$;
CREATE FUNCTION unmogrowp_user() RETURNS TEXT LANGUAGE sql STABLE AS
    $$ SELECT NULLIF(current_setting('unmogrowp.user_id', true), '') $$;
CREATE FUNCTION unmogrowp_system() RETURNS BOOLEAN LANGUAGE sql STABLE AS
    $$ SELECT coalesce(current_setting('unmogrowp.system', true), '') = 'on' $$;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON organizations
    USING (unmogrowp_system() OR id = unmogrowp_org()
           OR id IN (SELECT m.org_id FROM memberships m WHERE m.user_id = unmogrowp_user()))
    WITH CHECK (unmogrowp_system() OR id = unmogrowp_org());

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON memberships
    USING (unmogrowp_system() OR org_id = unmogrowp_org() OR user_id = unmogrowp_user())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
