-- S2S keys get a name, to tell them apart ("billing server", "CI"); empty for older keys.
ALTER TABLE app_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
