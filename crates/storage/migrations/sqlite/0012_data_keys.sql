-- Envelope encryption: one data key per organization (scope = its id) and one for the
-- platform's own rows (scope 'platform'), each wrapped by a version of the master key ring.
-- An organization's key goes with it (crypto-shredding: its sealed fields, wherever they
-- were stored, can no longer be opened).
CREATE TABLE data_keys (
    scope           TEXT PRIMARY KEY,
    org_id          TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    master_version  BIGINT NOT NULL,
    wrapped         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    rewrapped_at    BIGINT
);
