-- Downgrade of revision 0004: drop the entity index of every predictions table (no data is lost).
DO $$
DECLARE
    ix text;
BEGIN
    FOR ix IN
        SELECT quote_ident(n.nspname) || '.' || quote_ident(r.relname || '_entity')
        FROM pg_constraint AS c
        JOIN pg_class AS r ON r.oid = c.conrelid
        JOIN pg_namespace AS n ON n.oid = r.relnamespace
        WHERE c.contype = 'f'
          AND c.confrelid = 'ml.model_versions'::regclass
          AND c.conrelid <> 'ml.champion_history'::regclass
    LOOP
        EXECUTE 'DROP INDEX IF EXISTS ' || ix;
    END LOOP;
END
$$;
