-- A monitor run's realized performance per day, model version and metric (ml.model_performance): one
-- row per fact. The latest measurement wins: a row measured by a run with a later cutoff
-- (data_interval_end) is not overwritten by a rerun of an older interval. The arrays are parallel,
-- one element per row.
INSERT INTO ml.model_performance AS t (
    model_name, model_version, day, metric, value, data_interval_start, data_interval_end, run_id
)
SELECT %(model_name)s, m.model_version, m.day, m.metric, m.value, %(data_interval_start)s,
       %(data_interval_end)s, %(run_id)s
FROM unnest(%(model_version)s::integer[], %(day)s::date[], %(metric)s::text[], %(value)s::double precision[])
    AS m (model_version, day, metric, value)
ON CONFLICT (model_name, model_version, day, metric) DO UPDATE SET
    value = excluded.value,
    data_interval_start = excluded.data_interval_start,
    data_interval_end = excluded.data_interval_end,
    run_id = excluded.run_id
WHERE excluded.data_interval_end >= t.data_interval_end
