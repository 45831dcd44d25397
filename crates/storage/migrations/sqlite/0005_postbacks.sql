-- Postbacks: URL templates per network, and the log of their deliveries.
CREATE TABLE postbacks (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    network       TEXT NOT NULL,
    url_template  TEXT NOT NULL,
    events        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
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
    attempts         INTEGER NOT NULL,
    last_error       TEXT,
    next_attempt_at  INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX postback_deliveries_due ON postback_deliveries (status, next_attempt_at);
CREATE INDEX postback_deliveries_by_app ON postback_deliveries (app_id, created_at);
