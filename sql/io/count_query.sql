-- Rows a query returns.
SELECT count(*) AS row_count FROM (
{query}
) AS q
