-- Erasure requests (GDPR article 17): which app, who asked and when. Nothing of the device is
-- kept (not even a hash of its identifiers, which would still single it out). Whether the
-- event store has carried a request out is read from the event store.
CREATE TABLE erasures (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    requested_by  TEXT,
    requested_at  INTEGER NOT NULL
);
CREATE INDEX erasures_by_app ON erasures (app_id, requested_at);
