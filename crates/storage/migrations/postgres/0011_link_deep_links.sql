-- A tracking link's deferred deep link: where the app takes a user who installs after a click on
-- it (GET /v1/attribution answers it for installs attributed to the link's clicks).
ALTER TABLE links ADD COLUMN deep_link TEXT;
