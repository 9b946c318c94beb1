-- PSP fees on captures, and the simulator's balance transactions (the source of its settlement files).

ALTER TABLE payment_orders
  ADD COLUMN fee_amount bigint NOT NULL DEFAULT 0,
  ADD CONSTRAINT payment_orders_fee_within_amount CHECK (fee_amount >= 0 AND fee_amount <= amount);

ALTER TABLE psp_simulator_payments ADD COLUMN fee bigint NOT NULL DEFAULT 0 CHECK (fee >= 0);

-- Every movement of money at the simulated PSP, as Stripe's balance transactions: a capture (gross, fee, net)
-- and each refund (negative gross). A day's settlement file lists that day's rows.
CREATE TABLE psp_simulator_balance_transactions (
  id                 text        PRIMARY KEY,        -- "txn_sim_..."
  created_at         timestamptz NOT NULL DEFAULT now(),
  currency           char(3)     NOT NULL,
  gross              bigint      NOT NULL,
  fee                bigint      NOT NULL,
  net                bigint      NOT NULL CHECK (net = gross - fee),
  reporting_category text        NOT NULL CHECK (reporting_category IN ('charge', 'refund')),
  payment_id         text        NOT NULL REFERENCES psp_simulator_payments (id),
  payment_order_id   text        NOT NULL
);
CREATE INDEX psp_simulator_balance_transactions_day_idx ON psp_simulator_balance_transactions (created_at);
