-- IP ranges (CIDR) an organization blocks: installs from them are rejected as fraud.
CREATE TABLE blocked_ip_ranges (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    cidr        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, cidr)
);
