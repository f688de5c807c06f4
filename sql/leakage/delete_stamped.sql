-- The leakage check, inside a transaction it rolls back: delete the rows known at or after the cutoff.
DELETE FROM {table} WHERE {stamped}
