-- SKAdNetwork: Apple-signed install-validation postbacks (one row per postback: a 4.0
-- conversion sends up to three, told apart by sequence_index), and each app's
-- conversion-value schema.
CREATE TABLE skan_postbacks (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id            TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    transaction_id    TEXT NOT NULL,
    sequence_index    BIGINT NOT NULL,
    version           TEXT NOT NULL,
    ad_network_id     TEXT NOT NULL,
    campaign          TEXT NOT NULL,
    app_store_id      TEXT NOT NULL,
    source_app_id     TEXT,
    source_domain     TEXT,
    fidelity_type     BIGINT,
    did_win           BIGINT,
    conversion_value  BIGINT,
    coarse_value      TEXT,
    redownload        BIGINT NOT NULL,
    day               TEXT NOT NULL,
    received_at       BIGINT NOT NULL,
    UNIQUE (app_id, ad_network_id, transaction_id, sequence_index)
);
CREATE INDEX skan_postbacks_by_day ON skan_postbacks (app_id, day);

CREATE TABLE skan_schemas (
    app_id      TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE skan_postbacks ENABLE ROW LEVEL SECURITY;
ALTER TABLE skan_postbacks FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON skan_postbacks
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
ALTER TABLE skan_schemas ENABLE ROW LEVEL SECURITY;
ALTER TABLE skan_schemas FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON skan_schemas
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
