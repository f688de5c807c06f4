-- The leakage check waits at most this long for a row lock held by another session (a loader), then fails.
SELECT set_config('lock_timeout', %(timeout)s, true)
