-- One hash partition of a query's rows, by key (one column or several): partitions are disjoint and
-- together hold every row.
SELECT * FROM (
{query}
) AS q
WHERE mod(abs(hashtext(ROW({key})::text)::bigint), %(partitions)s) = %(partition)s
