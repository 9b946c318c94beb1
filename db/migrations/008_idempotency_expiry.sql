-- A replayed Idempotency-Key starts its work only if no attempt ever started it: once Temporal has
-- forgotten a finished run, starting it again would run it again. Keys expire after a time to live
-- (IDEMPOTENCY_KEY_TTL_HOURS, from created_at) and are then free for new work.
ALTER TABLE idempotency_keys ADD COLUMN started_at timestamptz; -- when Temporal accepted (or already had) the work

-- Keys recorded before this column: started if their work has left a trace only a running workflow writes.
UPDATE idempotency_keys k SET started_at = k.created_at
 WHERE EXISTS (SELECT 1 FROM checkouts c WHERE c.id = k.resource_id)
    OR EXISTS (SELECT 1 FROM refunds r WHERE r.id = k.resource_id AND r.status <> 'PENDING');

-- Expired keys are found by age.
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
