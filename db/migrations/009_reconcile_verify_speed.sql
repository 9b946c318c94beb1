-- Reconciling a million settlement lines, and verifying the books of a million payment orders, in seconds.

-- A run's settlement lines are written by one loader (holding the run's lock, after deleting what an earlier
-- attempt left) and read whole. Two B-trees updated on every line cost most of a load; a block range index
-- finds a run's lines, which lie together, for a fraction of that.
ALTER TABLE reconciliation_lines DROP CONSTRAINT reconciliation_lines_pkey;
DROP INDEX reconciliation_lines_order_idx;
CREATE INDEX reconciliation_lines_run_idx ON reconciliation_lines USING brin (run_id) WITH (autosummarize = on);

-- Marks the loader sets from a fixed-size filter of the ids it has loaded: false is certain (no earlier line
-- lists this balance transaction; no earlier charge is for this payment order), true means maybe, and
-- matching checks those lines exactly.
ALTER TABLE reconciliation_lines
  ADD COLUMN maybe_repeated      boolean NOT NULL DEFAULT false,
  ADD COLUMN maybe_second_charge boolean NOT NULL DEFAULT false;
CREATE INDEX reconciliation_lines_marked_idx ON reconciliation_lines (run_id) WHERE maybe_repeated OR maybe_second_charge;
-- Refunds are matched apart from charges, and are few.
CREATE INDEX reconciliation_lines_refund_idx ON reconciliation_lines (run_id) WHERE reporting_category = 'refund';
