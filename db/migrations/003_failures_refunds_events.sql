-- Failure paths: why an order or checkout failed, refunds, the event outbox, and status rules in the database.

ALTER TABLE checkouts
  ADD COLUMN allow_partial         boolean NOT NULL DEFAULT false,
  ADD COLUMN authorization_window_ms bigint NOT NULL DEFAULT 604800000,
  ADD COLUMN failure_code          text;

ALTER TABLE payment_orders
  ADD COLUMN failure_reason  text,
  ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0,
  ADD CONSTRAINT payment_orders_refund_within_amount CHECK (refunded_amount >= 0 AND refunded_amount <= amount);

-- A refund holds its amount from the moment it is accepted (PENDING), so refunds running side by side can
-- never add up to more than was captured.
CREATE TABLE refunds (
  id               text        PRIMARY KEY,
  payment_order_id text        NOT NULL REFERENCES payment_orders (id),
  checkout_id      text        NOT NULL REFERENCES checkouts (id),
  amount           bigint      NOT NULL CHECK (amount > 0),
  currency         char(3)     NOT NULL,
  reason           text        NOT NULL,
  status           text        NOT NULL,
  psp_reference    text,
  failure_code     text,
  failure_message  text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment_order_idx ON refunds (payment_order_id);

-- The outbox: one row per state change, written in the change's own transaction. Readers page by
-- (txid, id) and only see transactions older than every one still running, so none is ever skipped.
CREATE TABLE events (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid             xid8        NOT NULL DEFAULT pg_current_xact_id(),
  type             text        NOT NULL,
  checkout_id      text        NOT NULL,
  payment_order_id text,
  refund_id        text,
  data             jsonb       NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_feed_idx ON events (txid, id);
CREATE INDEX events_checkout_idx ON events (checkout_id, id);

-- The allowed status transitions, the same table as domain/status.ts (a test keeps the two equal).
CREATE TABLE status_transitions (
  entity      text NOT NULL,
  from_status text NOT NULL,
  to_status   text NOT NULL,
  PRIMARY KEY (entity, from_status, to_status)
);

INSERT INTO status_transitions (entity, from_status, to_status) VALUES
  ('checkout', 'PENDING', 'PROCESSING'), ('checkout', 'PENDING', 'CANCELED'),
  ('checkout', 'PROCESSING', 'REQUIRES_CAPTURE'), ('checkout', 'PROCESSING', 'CAPTURING'),
  ('checkout', 'PROCESSING', 'FAILED'), ('checkout', 'PROCESSING', 'CANCELED'),
  ('checkout', 'REQUIRES_CAPTURE', 'CAPTURING'), ('checkout', 'REQUIRES_CAPTURE', 'FAILED'),
  ('checkout', 'REQUIRES_CAPTURE', 'CANCELED'),
  ('checkout', 'CAPTURING', 'SUCCEEDED'), ('checkout', 'CAPTURING', 'PARTIALLY_SUCCEEDED'),
  ('checkout', 'CAPTURING', 'FAILED'), ('checkout', 'CAPTURING', 'CANCELED'),
  ('payment_order', 'PENDING', 'AUTHORIZED'), ('payment_order', 'PENDING', 'FAILED'),
  ('payment_order', 'PENDING', 'CANCELED'), ('payment_order', 'PENDING', 'VOIDED'),
  ('payment_order', 'AUTHORIZED', 'SUCCEEDED'), ('payment_order', 'AUTHORIZED', 'VOIDED'),
  ('payment_order', 'AUTHORIZED', 'FAILED'),
  ('payment_order', 'SUCCEEDED', 'PARTIALLY_REFUNDED'), ('payment_order', 'SUCCEEDED', 'REFUNDED'),
  ('payment_order', 'PARTIALLY_REFUNDED', 'PARTIALLY_REFUNDED'), ('payment_order', 'PARTIALLY_REFUNDED', 'REFUNDED'),
  ('refund', 'PENDING', 'SUCCEEDED'), ('refund', 'PENDING', 'FAILED');

CREATE FUNCTION enforce_status_transition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM status_transitions
                  WHERE entity = TG_ARGV[0] AND from_status = OLD.status AND to_status = NEW.status) THEN
    RAISE EXCEPTION '% % cannot go from % to %', TG_ARGV[0], OLD.id, OLD.status, NEW.status
      USING ERRCODE = 'check_violation', CONSTRAINT = 'status_transition';
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER checkouts_status_transition BEFORE UPDATE OF status ON checkouts
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION enforce_status_transition('checkout');
CREATE TRIGGER payment_orders_status_transition BEFORE UPDATE OF status ON payment_orders
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION enforce_status_transition('payment_order');
CREATE TRIGGER refunds_status_transition BEFORE UPDATE OF status ON refunds
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION enforce_status_transition('refund');
