-- Erasure requests (GDPR article 17): which app, who asked and when. Nothing of the device is
-- kept (not even a hash of its identifiers, which would still single it out). Whether the
-- event store has carried a request out is read from the event store.
CREATE TABLE erasures (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    requested_by  TEXT,
    requested_at  BIGINT NOT NULL
);
CREATE INDEX erasures_by_app ON erasures (app_id, requested_at);

ALTER TABLE erasures ENABLE ROW LEVEL SECURITY;
ALTER TABLE erasures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON erasures
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
