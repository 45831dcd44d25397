-- IP ranges (CIDR) an organization blocks: installs from them are rejected as fraud.
CREATE TABLE blocked_ip_ranges (
    org_id      TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    cidr        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, cidr)
);

ALTER TABLE blocked_ip_ranges ENABLE ROW LEVEL SECURITY;
ALTER TABLE blocked_ip_ranges FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_wall ON blocked_ip_ranges
    USING (unmogrowp_system() OR org_id = unmogrowp_org())
    WITH CHECK (unmogrowp_system() OR org_id = unmogrowp_org());
