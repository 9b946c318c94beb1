-- API keys: a request names its key by id and proves it with the secret. Only the secret's SHA-256 is kept:
-- a key is 256 random bits, so a slow password hash would buy nothing, and a leak of this table leaks no key.
CREATE TABLE api_keys (
  id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
  -- The start of the key, enough for a person to tell keys apart, never enough to use one.
  display_prefix text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set once; a revoked key is kept, so that its id is never handed out again and the list shows its history.
  revoked_at timestamptz
);
