-- Revision 0005: a predict run cut off at T scores the entities of [T + lead, T + lead + horizon), so
-- each prediction records as_of (T) and the scored window (window_start, window_end) next to its data
-- interval. Every predictions table (the tables with a foreign key to ml.model_versions other than the
-- champion history) and its staging table get the three columns; tables made at head have them
-- already. Rows written before this revision were made by runs that scored their own data interval
-- after it ended: as_of is the interval's end and the window the interval itself, which is what those
-- runs did. The newest-per-entity view is made again so that it shows the new columns. The statement
-- runs through the driver's parameter formatting: no percent signs.
DO $$
DECLARE
    t regclass;
    keys text;
BEGIN
    FOR t IN
        SELECT c.conrelid::regclass
        FROM pg_constraint AS c
        WHERE c.contype = 'f'
          AND c.confrelid = 'ml.model_versions'::regclass
          AND c.conrelid <> 'ml.champion_history'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_attribute AS a
                          WHERE a.attrelid = c.conrelid AND a.attname = 'as_of' AND NOT a.attisdropped)
    LOOP
        EXECUTE 'ALTER TABLE ' || t::text
            || ' ADD COLUMN as_of timestamptz, ADD COLUMN window_start timestamptz, ADD COLUMN window_end timestamptz';
        EXECUTE 'UPDATE ' || t::text
            || ' SET as_of = data_interval_end, window_start = data_interval_start, window_end = data_interval_end';
        EXECUTE 'ALTER TABLE ' || t::text || ' ALTER COLUMN as_of SET NOT NULL,'
            || ' ALTER COLUMN window_start SET NOT NULL, ALTER COLUMN window_end SET NOT NULL';
        IF to_regclass(t::text || '_staging') IS NOT NULL THEN
            EXECUTE 'ALTER TABLE ' || t::text || '_staging ADD COLUMN IF NOT EXISTS as_of timestamptz,'
                || ' ADD COLUMN IF NOT EXISTS window_start timestamptz, ADD COLUMN IF NOT EXISTS window_end timestamptz';
        END IF;
        IF to_regclass(t::text || '_latest') IS NOT NULL THEN
            SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
            INTO keys
            FROM pg_index AS i
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
            JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = t AND i.indisprimary
              AND a.attname NOT IN ('model_name', 'data_interval_start', 'data_interval_end', 'model_version');
            EXECUTE 'CREATE OR REPLACE VIEW ' || t::text || '_latest AS SELECT DISTINCT ON (' || keys || ') * FROM '
                || t::text || ' WHERE is_champion ORDER BY ' || keys || ', predicted_at DESC, data_interval_end DESC';
        END IF;
    END LOOP;
END
$$;
