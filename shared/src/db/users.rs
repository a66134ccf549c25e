//! `users`: created on first sight of a token's `sub`.

use sqlx::PgPool;
use uuid::Uuid;

/// Returns the user id for `external_id`, creating the user on first sight. Reads first, so
/// the common case (a known user polling status) writes nothing.
pub async fn find_or_create(pool: &PgPool, external_id: &str) -> Result<Uuid, sqlx::Error> {
    let known: Option<Uuid> = sqlx::query_scalar("select id from users where external_id = $1")
        .bind(external_id)
        .fetch_optional(pool)
        .await?;
    if let Some(id) = known {
        return Ok(id);
    }
    sqlx::query_scalar(
        "insert into users (id, external_id)
         values ($1, $2)
         on conflict on constraint users_external_id_unique
         do update set external_id = excluded.external_id
         returning id",
    )
    .bind(Uuid::new_v4())
    .bind(external_id)
    .fetch_one(pool)
    .await
}
