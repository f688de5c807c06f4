-- Hold seed's existing tables until the commit, so none can be dropped or replaced between the
-- ownership check and the reload (TRUNCATE would take this lock anyway).
LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE;
