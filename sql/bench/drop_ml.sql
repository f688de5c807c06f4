-- The benchmark database's registry, dropped before each run (its artifacts are deleted with it).
DROP SCHEMA IF EXISTS ml CASCADE
