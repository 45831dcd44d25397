-- Notes members pin to a date of an app's charts ("campaign paused", "new build 4.2").
CREATE TABLE annotations (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_by  TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX annotations_by_app ON annotations (app_id, day, created_at);
