-- The simulated PSP's own records: what it would hold on its side of the wire. Settle's books never read
-- these; tests and reconciliation compare against them as they would against Stripe's.

CREATE TABLE psp_simulator_payments (
  id               text        PRIMARY KEY,       -- the PSP reference, "pi_sim_..."
  payment_order_id text        NOT NULL,          -- metadata the merchant sent, as with Stripe
  amount           bigint      NOT NULL CHECK (amount > 0),
  currency         char(3)     NOT NULL,
  payment_method   text        NOT NULL,
  status           text        NOT NULL CHECK (status IN ('requires_capture', 'succeeded', 'canceled', 'declined')),
  amount_captured  bigint      NOT NULL DEFAULT 0,
  amount_refunded  bigint      NOT NULL DEFAULT 0,
  decline_code     text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (amount_refunded <= amount_captured AND amount_captured <= amount)
);
CREATE INDEX psp_simulator_payments_order_idx ON psp_simulator_payments (payment_order_id);

CREATE TABLE psp_simulator_refunds (
  id         text        PRIMARY KEY,             -- "re_sim_..."
  payment_id text        NOT NULL REFERENCES psp_simulator_payments (id),
  amount     bigint      NOT NULL CHECK (amount > 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Like Stripe, the simulator answers a repeated idempotency key with its first answer.
CREATE TABLE psp_simulator_idempotency (
  key        text        PRIMARY KEY,
  response   jsonb       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
