-- Outgoing webhooks: the endpoints that receive the outbox's events, and one delivery per (endpoint, event).

CREATE TABLE webhook_endpoints (
  id          text        PRIMARY KEY,
  url         text        NOT NULL,
  events      text[]      NOT NULL CHECK (cardinality(events) > 0),
  description text,
  -- Kept as is: every delivery is signed with it. Shown to the client once, when the endpoint is created.
  secret      text        NOT NULL,
  status      text        NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  disabled_at timestamptz,
  CHECK ((status = 'disabled') = (disabled_at IS NOT NULL))
);
CREATE INDEX webhook_endpoints_list_idx ON webhook_endpoints (created_at DESC, id DESC);

CREATE TABLE webhook_deliveries (
  id              text        PRIMARY KEY,
  endpoint_id     text        NOT NULL REFERENCES webhook_endpoints (id),
  event_id        bigint      NOT NULL REFERENCES events (id),
  -- The event's place in the feed: deliveries of a group go out in this order.
  event_txid      xid8        NOT NULL,
  event_type      text        NOT NULL,
  -- The checkout the event belongs to, or 'without-checkout': deliveries go out in order within a group.
  delivery_group  text        NOT NULL,
  status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'canceled')),
  attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_http_status integer,
  last_error      text,
  last_attempt_at timestamptz,
  next_attempt_at timestamptz,
  delivered_at    timestamptz,
  failed_at       timestamptz,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (endpoint_id, event_id),
  CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
  CHECK ((status = 'failed') = (failed_at IS NOT NULL))
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, delivery_group, event_txid, event_id)
  WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list_idx ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
