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
pub mod flags;
pub mod imports;
pub mod keys;
pub mod segments;
pub mod services;

/// The schema migrations, embedded at build time (no database needed to build).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Whether the database answers.
pub async fn ping(pool: &sqlx::PgPool) -> bool {
    sqlx::query!("SELECT 1 AS one").fetch_one(pool).await.is_ok()
}
