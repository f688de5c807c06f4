-- The benchmark's own schema (make bench), in a database of its own: never the demo's data.
CREATE SCHEMA IF NOT EXISTS bench
