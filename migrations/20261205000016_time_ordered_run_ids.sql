-- Run ids are UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then version, variant and 74
-- random bits. A night's runs, their phases and their activity entries are then keyed next to
-- each other at the right end of each index (`runs_pkey`, `run_activity_run_idx`,
-- `run_phases`' key), on a few leaf pages, instead of one page per run spread over years of
-- history: a night no longer reads thousands of old index pages nor writes each of them
-- whole to the WAL after a checkpoint. Postgres 15 has no `uuidv7()` (18 does): this is the
-- RFC's layout over `gen_random_uuid()`. The api and the scheduler make theirs with `Uuid::now_v7()`.
create function sigmasight_uuid_v7() returns uuid
language sql volatile parallel safe as $$
    select encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
                    from 1 for 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
