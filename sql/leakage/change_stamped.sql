-- The leakage check, inside a transaction it rolls back: change the later-observed columns of the
-- rows whose facts became known after the cutoff (one statement per table, so every stamp reads
-- the row as it was).
UPDATE {table} SET {assignments} WHERE {stamped}
