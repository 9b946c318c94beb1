-- What a finished checkout still holds at the PSP because a compensation (a void or a refund) was refused,
-- and why: the record a person acts on. Zero and NULL when nothing is held.
ALTER TABLE checkouts
  ADD COLUMN held_amount       bigint NOT NULL DEFAULT 0 CHECK (held_amount >= 0),
  ADD COLUMN attention_code    text,
  ADD COLUMN attention_message text,
  ADD CONSTRAINT checkouts_attention_names_what_is_held CHECK ((held_amount = 0) = (attention_code IS NULL));
