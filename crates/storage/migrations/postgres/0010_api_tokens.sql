-- Long-lived API tokens of an organization (BI tools, scripts): only the token's SHA-256 hash
-- is kept; `prefix` (`unm_` and 8 more characters) identifies it in lists.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_by    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_by_org ON api_tokens (org_id, created_at);

ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON api_tokens
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
