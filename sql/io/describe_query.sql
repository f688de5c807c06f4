-- Result columns and types of a query, without running it to completion.
SELECT * FROM (
{query}
) AS q LIMIT 0
