-- Revision 0008 down: forget which batch each run served (the batches stay in the artifact store).
DROP TABLE IF EXISTS ml.served_batches;
