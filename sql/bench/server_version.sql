-- The PostgreSQL server's version, for the benchmark's machine notes.
SELECT current_setting('server_version') AS server_version
