//! The audit log: every write records who (key id), what (entity, action), before, after and
//! the resulting version, in the write's own transaction. What an entry says is decided here:
//! callers pass what they changed, with secrets already redacted (see `configs`).

use serde::Serialize;
use sqlx::PgConnection;

use super::authz::Caller;
use crate::error::Result;
use crate::store::audit as rows;

pub use crate::store::audit::Entry;

/// Records an entry of `caller`'s (`None`: the CLI, as the server's operator).
pub async fn record(conn: &mut PgConnection, caller: Option<&Caller>, e: Entry<'_>) -> Result<()> {
    rows::insert(conn, caller.map(|c| c.key_id.as_str()), e).await
}

/// An entity whose changes are audited whole (its JSON is the before/after).
pub trait Audited: Serialize {
    const ENTITY: &'static str;
    fn audit_id(&self) -> &str;
    fn audit_key(&self) -> &str;
    fn audit_version(&self) -> Option<i64>;
    /// What the entry holds of it: all of it, unless it keeps secrets.
    fn audit_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self).ok()
    }
}

/// Implements [`Audited`] for a type with `id`, `key` and `version` (or one whose field `$part`
/// has them); items after `;` go into the impl too (an `audit_json` that redacts).
macro_rules! audited {
    ($type:ty, $entity:literal $(, $part:ident)? $(; $($more:item)*)?) => {
        impl $crate::domain::audit::Audited for $type {
            $($($more)*)?
            const ENTITY: &'static str = $entity;
            fn audit_id(&self) -> &str {
                &self$(.$part)?.id
            }
            fn audit_key(&self) -> &str {
                &self$(.$part)?.key
            }
            fn audit_version(&self) -> Option<i64> {
                Some(self$(.$part)?.version)
            }
        }
    };
}
pub(crate) use audited;

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
            before: before.and_then(Audited::audit_json),
            after: after.and_then(Audited::audit_json),
            version: subject.audit_version(),
        },
    )
    .await
}
