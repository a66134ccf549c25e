-- Debug activity entries are kept SIGMASIGHT_DEBUG_ACTIVITY_RETENTION_DAYS (info, warnings and
-- errors forever): the pruning deletes the oldest debug entries through this index, never
-- reading the rest of the table.
create index run_activity_debug_ts_idx on run_activity (ts) where debug;
