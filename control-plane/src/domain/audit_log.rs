//! The audit log as a resource: read back, newest first, by keys not bound to anything. (How
//! writes record entries is [`super::audit`].)

use super::authz::{self, Action};
use super::paging::{List, Page};
use super::vane::Actor;
use crate::error::Result;
use crate::store::audit::{self as rows, AuditEntry, Filter};

/// A page of the log, newest first: keys not bound to anything only.
pub async fn list(actor: &Actor, filter: &Filter<'_>, page: Page) -> Result<List<AuditEntry>> {
    let Actor { vane, caller } = actor;
    authz::everything(caller, Action::Read)?;
    let page = page.resolve()?;
    let mut conn = vane.pool.acquire().await?;
    Ok(List::of(rows::list(&mut conn, filter, page).await?, page))
}
