-- Serialise writers of the same (table, model, interval) for the rest of the transaction.
SELECT pg_advisory_xact_lock(hashtextextended(%(lock_key)s, 0));
