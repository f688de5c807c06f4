-- The first and last stamp of one source table (the leakage check samples its cutoffs in between).
SELECT min({stamp}) AS first_stamp, max({stamp}) AS last_stamp FROM {table}
