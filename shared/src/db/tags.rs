//! `tags` and `position_tags`: phase 5's sector tags (ANALYTICS §4).

use crate::analytics::sectors::SECTOR_TAG_PREFIX;
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// One position's tag.
#[derive(Debug, Clone, PartialEq, FromRow, serde::Serialize)]
pub struct PositionTag {
    pub position_id: Uuid,
    pub symbol: String,
    pub tag: String,
    pub color: String,
}

/// Removes the `Sector:` tags of the listed positions (all of a portfolio's), then gives each
/// its tag (created for the owner when new). Returns the number of tags assigned.
pub async fn replace_sector_tags(
    conn: &mut PgConnection,
    user_id: Uuid,
    assignments: &[(Uuid, String, &str)],
) -> Result<u64, sqlx::Error> {
    let like = format!("{SECTOR_TAG_PREFIX}%");
    let ids: Vec<Uuid> = assignments.iter().map(|a| a.0).collect();
    // By position id (the primary key's prefix): an owner's sector tags can carry many
    // thousands of positions, which a join from the tag side would walk for every portfolio.
    sqlx::query(
        "delete from position_tags
         where position_id = any($1)
           and tag_id in (select id from tags where user_id = $2 and name like $3)",
    )
    .bind(&ids)
    .bind(user_id)
    .bind(&like)
    .execute(&mut *conn)
    .await?;
    let names: Vec<&str> = assignments.iter().map(|a| a.1.as_str()).collect();
    let colors: Vec<&str> = assignments.iter().map(|a| a.2).collect();
    sqlx::query(
        "insert into tags (user_id, name, color)
         select distinct $1::uuid, u.name, u.color from unnest($2::text[], $3::text[]) as u(name, color)
         on conflict on constraint tags_user_name_unique do nothing",
    )
    .bind(user_id)
    .bind(&names)
    .bind(&colors)
    .execute(&mut *conn)
    .await?;
    let done = sqlx::query(
        "insert into position_tags (position_id, tag_id)
         select u.position_id, t.id
         from unnest($2::uuid[], $3::text[]) as u(position_id, name)
         join tags t on t.user_id = $1 and t.name = u.name
         on conflict on constraint position_tags_pk do nothing",
    )
    .bind(user_id)
    .bind(&ids)
    .bind(&names)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// The `Sector:` tag names the listed positions carry, as (position, tag name) pairs.
pub async fn sector_tags(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    position_ids: &[Uuid],
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "select pt.position_id, t.name
         from position_tags pt
         join tags t on t.id = pt.tag_id
         where pt.position_id = any($1) and t.user_id = $2 and t.name like $3",
    )
    .bind(position_ids)
    .bind(user_id)
    .bind(format!("{SECTOR_TAG_PREFIX}%"))
    .fetch_all(db)
    .await
}

/// The tags of a portfolio's positions, by symbol.
pub async fn for_portfolio(
    db: impl PgExecutor<'_>,
    portfolio_id: Uuid,
) -> Result<Vec<PositionTag>, sqlx::Error> {
    sqlx::query_as(
        "select p.id as position_id, p.symbol, t.name as tag, t.color
         from positions p
         join position_tags pt on pt.position_id = p.id
         join tags t on t.id = pt.tag_id
         where p.portfolio_id = $1
         order by p.symbol, p.entry_date, t.name",
    )
    .bind(portfolio_id)
    .fetch_all(db)
    .await
}
