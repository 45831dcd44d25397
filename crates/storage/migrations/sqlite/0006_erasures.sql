-- Erasure requests (GDPR article 17): which app, who asked and when. The device's identifier
-- is not kept: subject_hash is its SHA-256 (hex), enough to recognise a repeated request.
-- Whether the event store has carried a request out is read from the event store.
CREATE TABLE erasures (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    subject_hash  TEXT NOT NULL,
    requested_by  TEXT,
    requested_at  INTEGER NOT NULL
);
CREATE INDEX erasures_by_app ON erasures (app_id, requested_at);
