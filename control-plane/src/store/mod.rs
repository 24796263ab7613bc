//! SQL, and nothing else: each module holds one table's (or one concern's) row types and
//! statements, checked against the schema at build time (`sqlx::query!`/`query_as!`, with the
//! offline data in `.sqlx/` at the repository root). Nothing here decides anything: validation,
//! authorisation, versions, history, audit and publishing are the callers' (`crate::domain`).
//!
//! Row types are named for what they hold; each module's `select!` macro writes its column list
//! once, so finding, locking and listing differ only in the statement's tail.

pub mod applications;
pub mod audit;
pub mod configs;
pub mod environments;
pub mod export;
pub mod flags;
pub mod imports;
pub mod keys;
pub mod segments;
pub mod services;
pub mod snapshots;

/// The schema migrations, embedded at build time (no database needed to build).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Marks the point in the caller's transaction that [`back_to_savepoint`] returns to (the most
/// recent mark).
pub async fn savepoint(conn: &mut sqlx::PgConnection) -> crate::error::Result<()> {
    sqlx::query!("SAVEPOINT member").execute(conn).await?;
    Ok(())
}

/// Undoes what the caller's transaction did since its [`savepoint`].
pub async fn back_to_savepoint(conn: &mut sqlx::PgConnection) -> crate::error::Result<()> {
    sqlx::query!("ROLLBACK TO SAVEPOINT member").execute(conn).await?;
    Ok(())
}

/// Whether the database answers, and why not.
pub async fn ready(pool: &sqlx::PgPool) -> crate::error::Result<()> {
    sqlx::query_scalar!("SELECT 1 AS one").fetch_one(pool).await?;
    Ok(())
}

/// Whether the database answers.
pub async fn ping(pool: &sqlx::PgPool) -> bool {
    ready(pool).await.is_ok()
}

/// A row's identity and the fingerprint of the row version(s) it was read from
/// (`xmin:ctid`): equal fingerprints, unchanged rows (see `crate::publish::model_cache`).
#[derive(Debug, Clone)]
pub struct Fingerprint {
    pub id: String,
    pub key: String,
    pub fingerprint: String,
}
