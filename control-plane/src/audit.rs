//! The audit log: every write records who (key id), what (entity, action), before, after and
//! the resulting version, in the write's own transaction.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use crate::auth::Caller;
use crate::error::Result;

#[derive(Debug)]
pub struct Entry<'a> {
    pub entity_type: &'a str,
    pub entity_id: &'a str,
    pub entity_key: &'a str,
    pub action: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub version: Option<i64>,
}

pub async fn record(conn: &mut PgConnection, caller: Option<&Caller>, e: Entry<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor, entity_type, entity_id, entity_key, action, before, after, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(ulid::Ulid::new().to_string())
    .bind(caller.map(|c| c.key_id.as_str()))
    .bind(e.entity_type)
    .bind(e.entity_id)
    .bind(e.entity_key)
    .bind(e.action)
    .bind(e.before)
    .bind(e.after)
    .bind(e.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// An entity whose changes are audited whole (its JSON is the before/after).
pub trait Audited: Serialize {
    const ENTITY: &'static str;
    fn audit_id(&self) -> &str;
    fn audit_key(&self) -> &str;
    fn audit_version(&self) -> Option<i64>;
}

/// Records `action` on an entity, from its state before and/or after the write.
pub async fn change<T: Audited>(
    conn: &mut PgConnection,
    caller: &Caller,
    action: &str,
    before: Option<&T>,
    after: Option<&T>,
) -> Result<()> {
    let Some(subject) = after.or(before) else {
        return Ok(());
    };
    record(
        conn,
        Some(caller),
        Entry {
            entity_type: T::ENTITY,
            entity_id: subject.audit_id(),
            entity_key: subject.audit_key(),
            action,
            before: before.and_then(|b| serde_json::to_value(b).ok()),
            after: after.and_then(|a| serde_json::to_value(a).ok()),
            version: subject.audit_version(),
        },
    )
    .await
}
