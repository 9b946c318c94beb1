-- Checkouts, payment orders, wallets and the double-entry ledger.
-- Money columns are bigint minor units; currencies are ISO 4217 codes.

CREATE TABLE idempotency_keys (
  scope        text        NOT NULL,            -- which endpoint the key belongs to
  key          text        NOT NULL,
  request_hash text        NOT NULL,            -- sha256 of the normalized request: same key + other body = 409
  resource_id  text        NOT NULL,
  request      jsonb       NOT NULL,            -- what the first request set in motion, to finish it on a retry
  response     jsonb       NOT NULL,            -- the first answer, replayed to every retry
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);

CREATE TABLE checkouts (
  id             text        PRIMARY KEY,
  customer_id    text        NOT NULL,
  currency       char(3)     NOT NULL,
  total_amount   bigint      NOT NULL CHECK (total_amount > 0),
  capture_mode   text        NOT NULL CHECK (capture_mode IN ('automatic', 'manual')),
  status         text        NOT NULL,
  failure_reason text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkouts_customer_idx ON checkouts (customer_id, created_at);

CREATE TABLE payment_orders (
  id              text        PRIMARY KEY,
  checkout_id     text        NOT NULL REFERENCES checkouts (id),
  position        int         NOT NULL,            -- the order's place in the checkout request
  seller_id       text        NOT NULL,
  amount          bigint      NOT NULL CHECK (amount > 0),
  currency        char(3)     NOT NULL,
  payment_method  text        NOT NULL,
  status          text        NOT NULL,
  psp_reference   text,
  failure_code    text,
  failure_message text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (checkout_id, seller_id),
  UNIQUE (checkout_id, position)
);

-- Ledger. Accounts are named by what they hold: psp_clearing:<currency>, seller_payable:<seller>:<currency>.
CREATE TABLE ledger_accounts (
  id         text        PRIMARY KEY,
  kind       text        NOT NULL CHECK (kind IN ('asset', 'liability', 'revenue', 'expense')),
  currency   char(3)     NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (id, currency)
);

-- One ledger transaction per (payment order, step): the natural key makes a repeated posting a no-op.
CREATE TABLE ledger_transactions (
  id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payment_order_id text        NOT NULL REFERENCES payment_orders (id),
  step             text        NOT NULL,
  description      text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (payment_order_id, step)
);

CREATE TABLE ledger_entries (
  id             bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id bigint  NOT NULL REFERENCES ledger_transactions (id),
  account_id     text    NOT NULL,
  direction      text    NOT NULL CHECK (direction IN ('debit', 'credit')),
  amount         bigint  NOT NULL CHECK (amount > 0),
  currency       char(3) NOT NULL,
  -- an entry's currency is its account's currency
  FOREIGN KEY (account_id, currency) REFERENCES ledger_accounts (id, currency)
);
CREATE INDEX ledger_entries_transaction_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id);

-- A ledger transaction has at least two entries and, per currency, debits equal credits. Checked at
-- commit (deferred), so the entries of one transaction may be inserted one by one.
CREATE FUNCTION ledger_assert_balanced(txn bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  entry_count int;
  unbalanced record;
BEGIN
  SELECT count(*) INTO entry_count FROM ledger_entries WHERE transaction_id = txn;
  IF entry_count < 2 THEN
    RAISE EXCEPTION 'ledger transaction % has % entries; a transaction needs at least two', txn, entry_count
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
  END IF;
  SELECT currency,
         sum(amount) FILTER (WHERE direction = 'debit')  AS debits,
         sum(amount) FILTER (WHERE direction = 'credit') AS credits
    INTO unbalanced
    FROM ledger_entries
   WHERE transaction_id = txn
   GROUP BY currency
  HAVING coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)
      <> coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'ledger transaction % is unbalanced in %: debits % <> credits %',
      txn, unbalanced.currency, coalesce(unbalanced.debits, 0), coalesce(unbalanced.credits, 0)
      USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
  END IF;
END $$;

CREATE FUNCTION ledger_transactions_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_assert_balanced(NEW.id);
  RETURN NULL;
END $$;

CREATE FUNCTION ledger_entries_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM ledger_assert_balanced(NEW.transaction_id);
  RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_transactions_balanced
  AFTER INSERT ON ledger_transactions DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_transactions_balanced();

CREATE CONSTRAINT TRIGGER ledger_entries_balanced
  AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION ledger_entries_balanced();

-- Wallets: a seller's balance per currency, moved only through wallet_movements, one per (order, step).
CREATE TABLE wallets (
  seller_id  text        NOT NULL,
  currency   char(3)     NOT NULL,
  balance    bigint      NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (seller_id, currency)
);

CREATE TABLE wallet_movements (
  payment_order_id text        NOT NULL REFERENCES payment_orders (id),
  step             text        NOT NULL,
  seller_id        text        NOT NULL,
  currency         char(3)     NOT NULL,
  amount           bigint      NOT NULL CHECK (amount <> 0),
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (payment_order_id, step),
  FOREIGN KEY (seller_id, currency) REFERENCES wallets (seller_id, currency)
);

-- The books are append-only: a mistake is corrected by a reversal, never by an edit.
CREATE FUNCTION refuse_change_to_append_only_table() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation', HINT = 'post a reversal transaction instead';
END $$;

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only_table();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only_table();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table();
CREATE TRIGGER wallet_movements_append_only BEFORE UPDATE OR DELETE ON wallet_movements
  FOR EACH ROW EXECUTE FUNCTION refuse_change_to_append_only_table();
CREATE TRIGGER wallet_movements_no_truncate BEFORE TRUNCATE ON wallet_movements
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_to_append_only_table();
