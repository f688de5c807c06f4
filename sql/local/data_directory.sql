-- The data directory of the server reached: which cluster this connection is talking to.
SHOW data_directory
