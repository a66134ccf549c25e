-- A nightly child wrote 260 position-factor rows (20 positions x 13 factors) and 190
-- correlation pairs per portfolio and date: each row an index entry and a foreign-key check
-- (the pairs' key to their matrix also cascaded row by row on delete), the costliest part
-- of the night's Postgres time. Both are only ever written and read whole per portfolio and
-- date, so they are now stored as the read side served them:
--   position_factor_exposures: one row per position, its factors as JSON objects
--     (factor -> beta, factor -> dollars), as `GET .../factor-exposures/positions` returns;
--   correlation_calculations.pairs: the pairs as one JSON array, ordered by the symbols,
--     as `GET .../correlation-matrix` returns.
-- Existing rows are converted in place by the aggregates the read side used.

create table position_factor_exposures_by_position (
    portfolio_id     uuid not null references portfolios (id) on delete cascade,
    calculation_date date not null,
    position_id      uuid not null,
    symbol           text not null,
    weight           double precision,
    exposures        jsonb not null,
    exposure_dollars jsonb not null,
    constraint position_factor_exposures_by_position_pk
        primary key (portfolio_id, calculation_date, position_id)
);

insert into position_factor_exposures_by_position
    (portfolio_id, calculation_date, position_id, symbol, weight, exposures, exposure_dollars)
select portfolio_id, calculation_date, position_id, min(symbol), min(weight),
       jsonb_object_agg(factor, beta), jsonb_object_agg(factor, exposure_dollar)
from position_factor_exposures
group by portfolio_id, calculation_date, position_id;

drop table position_factor_exposures;
alter table position_factor_exposures_by_position rename to position_factor_exposures;
-- (Renaming the constraint renames its index too.)
alter table position_factor_exposures
    rename constraint position_factor_exposures_by_position_pk to position_factor_exposures_pk;
alter table position_factor_exposures
    rename constraint position_factor_exposures_by_position_portfolio_id_fkey
    to position_factor_exposures_portfolio_id_fkey;

alter table correlation_calculations add column pairs jsonb not null default '[]';

update correlation_calculations c
set pairs = coalesce((
    select jsonb_agg(to_jsonb(p) - 'portfolio_id' - 'calculation_date'
                     order by p.symbol_1, p.symbol_2)
    from pairwise_correlations p
    where p.portfolio_id = c.portfolio_id and p.calculation_date = c.calculation_date), '[]');

drop table pairwise_correlations;
