-- SKAdNetwork: Apple-signed install-validation postbacks (one row per postback: a 4.0
-- conversion sends up to three, told apart by sequence_index), and each app's
-- conversion-value schema.
CREATE TABLE skan_postbacks (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id            TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    transaction_id    TEXT NOT NULL,
    sequence_index    INTEGER NOT NULL,
    version           TEXT NOT NULL,
    ad_network_id     TEXT NOT NULL,
    campaign          TEXT NOT NULL,
    app_store_id      TEXT NOT NULL,
    source_app_id     TEXT,
    source_domain     TEXT,
    fidelity_type     INTEGER,
    did_win           INTEGER,
    conversion_value  INTEGER,
    coarse_value      TEXT,
    redownload        INTEGER NOT NULL,
    day               TEXT NOT NULL,
    received_at       INTEGER NOT NULL,
    UNIQUE (app_id, ad_network_id, transaction_id, sequence_index)
);
CREATE INDEX skan_postbacks_by_day ON skan_postbacks (app_id, day);

CREATE TABLE skan_schemas (
    app_id      TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
