//! SQL, and nothing else: each module holds one table's (or one concern's) row types and
//! statements, checked against the schema at build time (`sqlx::query!`/`query_as!`, with the
//! offline data in `.sqlx/` at the repository root). Nothing here decides anything: validation,
//! authorisation, versions, history, audit and publishing are the callers' (`crate::domain`).
//!
//! Row types are named for what they hold; each module's `select!` macro writes its column list
//! once, so finding, locking and listing differ only in the statement's tail.

/// A page of rows and how many match in all: `$page` is the page's statement (`LIMIT` and
/// `OFFSET` bound), `$count` counts what it pages through.
macro_rules! paged {
    ($conn:ident, $page:expr, $count:expr) => {{
        let items = $page.fetch_all(&mut *$conn).await?;
        let total = $count.fetch_one(&mut *$conn).await?;
        Ok((items, total))
    }};
}

/// A page of rows (see `paged!`) and how many match in all.
pub type Paged<T> = crate::error::Result<(Vec<T>, i64)>;

/// The statements of a table whose rows are named by id or key (applications, environments):
/// `find` and `lock` by either, `list` (a page by key; only `only` when given) and `delete` by
/// id. `$select` is `SELECT <the row's columns> FROM <table>`.
macro_rules! named_rows {
    ($row:ident, $what:literal, $table:literal, $select:literal) => {
        fn not_found(name: &str) -> Error {
            Error::NotFound(format!(concat!($what, " '{}' not found"), name))
        }

        /// A row by id or key.
        pub async fn find(conn: impl sqlx::PgExecutor<'_>, id_or_key: &str) -> Result<$row> {
            sqlx::query_as!($row, $select + " WHERE id = $1 OR key = $1", id_or_key)
                .fetch_optional(conn)
                .await?
                .ok_or_else(|| not_found(id_or_key))
        }

        /// The same, locked until the transaction ends.
        pub async fn lock(conn: &mut PgConnection, id_or_key: &str) -> Result<$row> {
            sqlx::query_as!($row, $select + " WHERE id = $1 OR key = $1 FOR UPDATE", id_or_key)
                .fetch_optional(conn)
                .await?
                .ok_or_else(|| not_found(id_or_key))
        }

        /// A page by key (only `only` when given), and how many there are.
        pub async fn list(
            conn: &mut PgConnection,
            only: Option<&str>,
            (limit, offset): (i64, i64),
        ) -> crate::store::Paged<$row> {
            paged!(
                conn,
                sqlx::query_as!(
                    $row,
                    $select + " WHERE ($1::text IS NULL OR id = $1) ORDER BY key LIMIT $2 OFFSET $3",
                    only,
                    limit,
                    offset
                ),
                sqlx::query_scalar!(
                    "SELECT count(*) AS \"n!\" FROM " + $table + " WHERE ($1::text IS NULL OR id = $1)",
                    only
                )
            )
        }

        pub async fn delete(conn: &mut PgConnection, id: &str) -> Result<()> {
            sqlx::query!("DELETE FROM " + $table + " WHERE id = $1", id).execute(conn).await?;
            Ok(())
        }

        /// Every row's id, in lock order.
        pub async fn ids(conn: &mut PgConnection) -> Result<Vec<String>> {
            Ok(sqlx::query_scalar!("SELECT id FROM " + $table + " ORDER BY id").fetch_all(conn).await?)
        }
    };
}

/// One row or none from a module's `select!` (its row type's query, then `$rest`), locked until
/// the transaction ends when `$lock`.
macro_rules! find_one {
    ($select:ident, $conn:expr, $lock:expr, $rest:literal $(, $arg:expr)* $(,)?) => {
        if $lock {
            $select!($rest + " FOR UPDATE" $(, $arg)*).fetch_optional($conn).await?
        } else {
            $select!($rest $(, $arg)*).fetch_optional($conn).await?
        }
    };
}

/// `find`: a row of an application by id or key (with the module's `select!`), locked until
/// the transaction ends when `lock`.
macro_rules! find_in_application {
    ($row:ident) => {
        pub async fn find(
            conn: &mut PgConnection,
            application_id: &str,
            id_or_key: &str,
            lock: bool,
        ) -> Result<Option<$row>> {
            let (app, name) = (application_id, id_or_key);
            Ok(find_one!(select, conn, lock, "WHERE application_id = $1 AND (id = $2 OR key = $2)", app, name))
        }
    };
}

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
pub mod sessions;
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
