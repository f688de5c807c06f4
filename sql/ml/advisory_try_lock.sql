-- Take the lock advisory_lock takes, for the rest of the transaction, if no one holds it: acquired is false otherwise.
SELECT pg_try_advisory_xact_lock(hashtextextended(%(lock_key)s, 0)) AS acquired
