-- A table's rows as CSV with a header: the "ready CSV" that raw COPY loads in the write benchmark.
COPY {table} TO STDOUT WITH (FORMAT csv, HEADER true)
