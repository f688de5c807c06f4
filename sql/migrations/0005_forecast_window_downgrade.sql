-- Downgrade of revision 0005: the older code neither writes nor reads as_of, window_start and
-- window_end. They are kept (no data is lost) but may be NULL again, so that its inserts succeed.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT c.conrelid::regclass::text
        FROM pg_constraint AS c
        WHERE c.contype = 'f'
          AND c.confrelid = 'ml.model_versions'::regclass
          AND c.conrelid <> 'ml.champion_history'::regclass
          AND EXISTS (SELECT 1 FROM pg_attribute AS a
                      WHERE a.attrelid = c.conrelid AND a.attname = 'as_of' AND NOT a.attisdropped)
    LOOP
        EXECUTE 'ALTER TABLE ' || t || ' ALTER COLUMN as_of DROP NOT NULL,'
            || ' ALTER COLUMN window_start DROP NOT NULL, ALTER COLUMN window_end DROP NOT NULL';
        IF to_regclass(t || '_staging') IS NOT NULL THEN
            EXECUTE 'ALTER TABLE ' || t || '_staging ALTER COLUMN as_of DROP NOT NULL,'
                || ' ALTER COLUMN window_start DROP NOT NULL, ALTER COLUMN window_end DROP NOT NULL';
        END IF;
    END LOOP;
END
$$;
