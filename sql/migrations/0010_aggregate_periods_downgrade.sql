-- Revision 0010 down: forget which aggregate periods were built (the aggregate tables stay; the next
-- extraction rebuilds the periods it needs).
DROP TABLE IF EXISTS ml.aggregate_periods;
