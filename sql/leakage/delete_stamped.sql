-- The leakage check, inside a transaction it rolls back: delete the rows known after the cutoff.
DELETE FROM {table} WHERE {stamped}
