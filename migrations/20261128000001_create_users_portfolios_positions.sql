-- Users are created on first sight of a token's `sub`.
create table users (
    id          uuid primary key,
    -- the JWT `sub` claim that identifies the user
    external_id text not null,
    created_at  timestamptz not null default now(),
    constraint users_external_id_unique unique (external_id)
);

create table portfolios (
    id             uuid primary key,
    user_id        uuid not null references users (id) on delete cascade,
    name           text not null,
    account_name   text not null,
    account_type   text not null,
    description    text,
    -- B in ANALYTICS §5: the equity balance given at onboarding, else Σ|cost|
    equity_balance numeric(20, 2) not null,
    -- true when equity_balance came from the form rather than Σ|cost|
    equity_balance_given boolean not null,
    created_at     timestamptz not null default now(),
    constraint portfolios_account_name_unique unique (user_id, account_name),
    constraint portfolios_account_type_check check (
        account_type in ('taxable', 'ira', 'roth_ira', '401k', '403b', '529', 'hsa', 'trust', 'other')
    )
);

create table positions (
    id                 uuid primary key,
    portfolio_id       uuid not null references portfolios (id) on delete cascade,
    symbol             text not null,
    quantity           numeric(28, 6) not null,
    entry_price        numeric(20, 2) not null,
    entry_date         date not null,
    investment_class   text not null,
    investment_subtype text not null,
    position_type      text not null,
    underlying_symbol  text,
    strike_price       numeric(20, 4),
    expiration_date    date,
    option_type        text,
    exit_date          date,
    exit_price         numeric(20, 4),
    -- CSV row the position came from (header = row 1)
    source_row         integer not null,
    -- phase 4 results: current value as of price_date
    last_price         double precision,
    price_date         date,
    market_value       numeric(24, 2),
    unrealized_pnl     numeric(24, 2),
    delta              double precision,
    values_updated_at  timestamptz,
    created_at         timestamptz not null default now(),
    constraint positions_symbol_entry_unique unique (portfolio_id, symbol, entry_date),
    constraint positions_class_check check (investment_class in ('PUBLIC', 'OPTIONS', 'PRIVATE')),
    constraint positions_type_check check (position_type in ('LONG', 'SHORT', 'LC', 'LP', 'SC', 'SP')),
    constraint positions_option_type_check check (option_type is null or option_type in ('CALL', 'PUT'))
);
