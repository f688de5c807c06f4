-- Bulk read of a query's result as CSV; the query's bind parameters are bound before this runs.
COPY (
{query}
) TO STDOUT WITH (FORMAT csv, HEADER true)
