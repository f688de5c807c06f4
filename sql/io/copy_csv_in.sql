-- Bulk load of a CSV stream with a header row; {null} is the text that stands for NULL.
COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true, NULL {null})
