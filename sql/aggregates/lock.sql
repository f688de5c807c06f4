-- One refresh of an aggregate at a time, for the rest of the transaction.
SELECT pg_advisory_xact_lock(hashtext('pipeline aggregate ' || %(aggregate)s))
