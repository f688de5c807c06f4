TRUNCATE {table};
