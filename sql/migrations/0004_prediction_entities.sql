-- Revision 0004: publish replaces every earlier row of an entity it publishes, whichever interval
-- wrote it (a 2-day run over daily ones, an hour inside a published day), and finds them by key. Every
-- predictions table (the tables with a foreign key to ml.model_versions other than the champion
-- history) gets the index <table>_entity on (model_name, its key columns), which tables made at head
-- have already (IF NOT EXISTS). The key columns are the primary key's after model_name, the interval
-- and model_version, in its order. The statement runs through the driver's parameter formatting: no
-- percent signs.
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
    LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
        INTO keys
        FROM pg_index AS i
        CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, ord)
        JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = t AND i.indisprimary
          AND a.attname NOT IN ('model_name', 'data_interval_start', 'data_interval_end', 'model_version');
        EXECUTE 'CREATE INDEX IF NOT EXISTS '
            || quote_ident((SELECT relname FROM pg_class WHERE oid = t) || '_entity')
            || ' ON ' || t::text || ' (model_name, ' || keys || ')';
    END LOOP;
END
$$;
