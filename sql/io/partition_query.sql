-- One hash partition of a query's rows, by key: partitions are disjoint and together hold every row.
SELECT * FROM (
{query}
) AS q
WHERE mod(abs(hashtext(q.{key}::text)::bigint), %(partitions)s) = %(partition)s
