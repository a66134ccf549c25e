-- The start a symbol's stored history was last asked from in full (a whole-range fetch). A
-- symbol that listed later has no bars before its first stored date, so a run needing its
-- history from any date on or after this start finds the stored history complete instead of
-- asking for all of it again every night. Null: never asked in full since this column exists.
alter table symbol_availability add column history_from date;
