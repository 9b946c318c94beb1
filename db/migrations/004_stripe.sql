-- The Stripe adapter's own records, and the simulator's payment methods.

-- The PaymentIntent made for each payment order, recorded before it is confirmed: a retried authorization
-- continues with this intent instead of creating (and charging) another.
CREATE TABLE stripe_payment_intents (
  payment_order_id  text        PRIMARY KEY,
  payment_intent_id text        NOT NULL UNIQUE,
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- Webhook events already handled, by Stripe's event id: a redelivery changes nothing.
CREATE TABLE stripe_webhook_events (
  id                text        PRIMARY KEY,
  type              text        NOT NULL,
  payment_intent_id text,
  payment_order_id  text,
  received_at       timestamptz NOT NULL DEFAULT now()
);

-- Payment methods made at the simulator (as with Stripe's POST /v1/payment_methods), each behaving like one
-- of Stripe's test payment methods.
CREATE TABLE psp_simulator_payment_methods (
  id          text        PRIMARY KEY,
  behaves_like text       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
