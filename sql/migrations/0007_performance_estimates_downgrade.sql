DROP TABLE IF EXISTS ml.performance_estimates;
