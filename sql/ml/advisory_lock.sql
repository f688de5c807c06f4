-- Serialise writers that share a lock key for the rest of the transaction.
SELECT pg_advisory_xact_lock(hashtextextended(%(lock_key)s, 0))
