-- Postbacks: URL templates per network, and the log of their deliveries.
CREATE TABLE postbacks (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    network       TEXT NOT NULL,
    url_template  TEXT NOT NULL,
    events        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    created_by    TEXT
);
CREATE INDEX postbacks_by_app ON postbacks (app_id, created_at);

-- dedup_key (postback id and event id) makes enqueueing idempotent when the worker replays.
CREATE TABLE postback_deliveries (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id           TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    postback_id      TEXT NOT NULL REFERENCES postbacks(id) ON DELETE CASCADE,
    dedup_key        TEXT NOT NULL UNIQUE,
    url              TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         BIGINT NOT NULL,
    last_error       TEXT,
    next_attempt_at  BIGINT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX postback_deliveries_due ON postback_deliveries (status, next_attempt_at);
CREATE INDEX postback_deliveries_by_app ON postback_deliveries (app_id, created_at);

ALTER TABLE postbacks ENABLE ROW LEVEL SECURITY;
ALTER TABLE postbacks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON postbacks
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());

ALTER TABLE postback_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE postback_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON postback_deliveries
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
