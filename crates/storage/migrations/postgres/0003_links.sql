-- Tracking links: one per network / campaign (/ ad group / creative) of an app.
CREATE TABLE links (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    network     TEXT NOT NULL,
    campaign    TEXT NOT NULL,
    adgroup     TEXT NOT NULL,
    creative    TEXT NOT NULL,
    retargeting BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT
);
CREATE INDEX links_by_app ON links (app_id, created_at);

ALTER TABLE links ENABLE ROW LEVEL SECURITY;
ALTER TABLE links FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON links
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
