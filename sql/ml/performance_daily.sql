-- The champion's performance per day: the realized value of one metric for the version that was
-- champion during the day, as the latest monitor run covering the day measured it, beside the CBPE
-- estimate of the latest monitor run that estimated the day ({estimated}: a column of
-- ml.performance_estimates, or NULL). A monitor run estimates only its own champion's predictions, so
-- the two versions of a day may differ.
WITH realized AS (
    SELECT DISTINCT ON (p.day) p.day, p.model_version, p.value
    FROM ml.model_performance AS p
    JOIN ml.champion_periods AS c
      ON c.model_name = p.model_name AND c.version = p.model_version
     AND c.valid_from < p.day + 1 AND (c.valid_to IS NULL OR c.valid_to > p.day)
    WHERE p.model_name = %(model_name)s AND p.metric = %(metric)s
    ORDER BY p.day, p.data_interval_end DESC, p.model_version DESC
), estimated AS (
    SELECT DISTINCT ON (day) day, model_version, {estimated} AS value
    FROM ml.performance_estimates
    WHERE model_name = %(model_name)s
    ORDER BY day, as_of DESC, model_version DESC
)
SELECT day, r.model_version AS realized_version, r.value AS realized,
       e.model_version AS estimated_version, e.value AS estimated
FROM realized AS r FULL JOIN estimated AS e USING (day)
ORDER BY day
