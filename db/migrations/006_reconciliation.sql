-- Reconciliation of the ledger against the PSP's settlement files.

CREATE TABLE reconciliation_runs (
  id             text        PRIMARY KEY,            -- the reconciliation workflow's id
  settlement_day date        NOT NULL,
  status         text        NOT NULL CHECK (status IN ('RUNNING', 'COMPLETED', 'FAILED')),
  source         text,                               -- the settlement file read
  lines          bigint,
  failure_line   bigint,
  failure_reason text,
  counts         jsonb       NOT NULL DEFAULT '{}',
  created_at     timestamptz NOT NULL DEFAULT now(),
  completed_at   timestamptz
);

-- A settlement file's lines, loaded by COPY for set-based matching; kept for the run's audit.
CREATE UNLOGGED TABLE reconciliation_lines (
  run_id                 text        NOT NULL,
  line_no                bigint      NOT NULL,
  balance_transaction_id text        NOT NULL,
  created_utc            timestamptz NOT NULL,
  currency               char(3)     NOT NULL,
  gross                  bigint      NOT NULL,
  fee                    bigint      NOT NULL,
  net                    bigint      NOT NULL,
  reporting_category     text        NOT NULL,
  payment_intent_id      text        NOT NULL,
  payment_order_id       text        NOT NULL,
  PRIMARY KEY (run_id, line_no)
);

CREATE TABLE reconciliation_discrepancies (
  id                     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id                 text        NOT NULL REFERENCES reconciliation_runs (id),
  class                  text        NOT NULL CHECK (class IN ('missing_in_ledger', 'missing_in_psp', 'amount_mismatch',
                                       'fee_mismatch', 'currency_mismatch', 'duplicate', 'status_mismatch')),
  line_no                bigint,
  payment_order_id       text,
  balance_transaction_id text,
  detail                 text        NOT NULL
);
CREATE INDEX reconciliation_discrepancies_run_idx ON reconciliation_discrepancies (run_id, id);

-- Events that belong to no checkout (reconciliation.completed).
ALTER TABLE events ALTER COLUMN checkout_id DROP NOT NULL, ADD COLUMN reconciliation_id text;

CREATE INDEX reconciliation_lines_order_idx ON reconciliation_lines (run_id, payment_order_id);
CREATE INDEX ledger_transactions_created_idx ON ledger_transactions (created_at);
