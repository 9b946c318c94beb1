-- Lists page newest first by (created_at, id) from a cursor row, each filter by an index that holds the
-- filtered column first and the page order after it: a page reads `limit` index entries from the cursor on,
-- whatever the table's size. A filter by checkout or payment order uses the indexes those columns already
-- have (few rows each, sorted in memory).
--
-- The status indexes cost something on the write path: a status change can no longer be a HOT update, so each
-- transition writes an entry in every index of its row. Without them a filter on a rare status (FAILED,
-- REQUIRES_CAPTURE) walks the whole table's order to fill a page.

CREATE INDEX checkouts_listing_idx ON checkouts (created_at, id);
CREATE INDEX checkouts_status_listing_idx ON checkouts (status, created_at, id);
-- Serves every query the customer index served (its leading columns are the same).
CREATE INDEX checkouts_customer_listing_idx ON checkouts (customer_id, created_at, id);
DROP INDEX checkouts_customer_idx;

CREATE INDEX payment_orders_listing_idx ON payment_orders (created_at, id);
CREATE INDEX payment_orders_status_listing_idx ON payment_orders (status, created_at, id);
CREATE INDEX payment_orders_seller_listing_idx ON payment_orders (seller_id, created_at, id);

CREATE INDEX refunds_listing_idx ON refunds (created_at, id);
CREATE INDEX refunds_status_listing_idx ON refunds (status, created_at, id);

-- An account's entries newest first by entry id, and its balance read from the index alone (the direction and
-- amount of each entry are in it). Replaces the index on account_id, whose every use this one serves.
CREATE INDEX ledger_entries_account_listing_idx ON ledger_entries (account_id, id) INCLUDE (direction, amount);
DROP INDEX ledger_entries_account_idx;
