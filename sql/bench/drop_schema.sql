-- Drop the benchmark's tables when it is done (make bench recreates them).
DROP SCHEMA IF EXISTS bench CASCADE
