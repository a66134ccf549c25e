-- Live status (SSE): tell the api whenever a run, one of its phases or its activity changes.
-- The payload is `<run_id>` or, from runs, `<run_id> <portfolio_id>`; the api's one listener
-- fans it out to the open event streams, which reload the status document. Postgres folds
-- identical notifications of one transaction, so a batch of activity rows costs one.
create function runs_notify_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('sigmasight_run_changed', new.id::text || coalesce(' ' || new.portfolio_id::text, ''));
    return null;
end;
$$;

-- Not on lease renewals: only columns the status document shows.
create trigger runs_notify_changed
    after insert or update of status, attempt, started_at, finished_at, error, summary on runs
    for each row execute function runs_notify_changed();

create function run_rows_notify_changed() returns trigger
language plpgsql as $$
begin
    perform pg_notify('sigmasight_run_changed', new.run_id::text);
    return null;
end;
$$;

create trigger run_phases_notify_changed
    after insert or update on run_phases
    for each row execute function run_rows_notify_changed();

create trigger run_activity_notify_changed
    after insert on run_activity
    for each row execute function run_rows_notify_changed();
