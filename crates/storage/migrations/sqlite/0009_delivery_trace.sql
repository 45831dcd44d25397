-- The W3C trace context of the request whose event triggered a postback, when it was traced:
-- the delivery's call continues that trace (header `traceparent`).
ALTER TABLE postback_deliveries ADD COLUMN traceparent TEXT;
