//! Delivery of published snapshots: which stream a request names, whether the key may fetch
//! it, and its current version — from memory when this process knows it to be current (see
//! [`Memo`]), else from PostgreSQL.
//!
//! Server snapshots need an `edge` (or `admin`) key, client snapshots an `edge`, `client` or
//! `admin` key, bound (if at all) to this application and environment. Their versions (the events
//! route) may also be followed by `read` keys.

use std::sync::Arc;

use vane_core::Audience;

use super::authz::{Action, Reach};
use super::memo::{Memo, StreamTag};
use super::vane::{Actor, Vane};
use crate::error::{Error, Result};
use crate::publish::{self, notifier::Announcement};
use crate::store::{applications, environments};

/// The stream a request is about, after authorisation.
#[derive(Debug)]
pub struct Stream {
    pub application_id: String,
    pub application: String,
    pub environment_id: String,
    pub environment: String,
    pub audience: &'static str,
}

impl Stream {
    /// Whether `a` announces a version of this stream.
    pub fn is(&self, a: &Announcement) -> bool {
        a.application == self.application && a.environment == self.environment && a.audience == self.audience
    }
}

/// The stream `application` × `environment` × `audience` (`server` when absent) names, with its
/// current `(version, etag)`, if the caller may fetch it.
pub async fn fetch(actor: &Actor, at: (&str, &str), audience: Option<&str>) -> Result<(Stream, i64, String)> {
    let audience = audience_of(audience)?;
    locate(actor, at, audience, Action::Fetch(audience)).await
}

/// [`fetch`]'s stream for a caller that only follows its versions (the events route). The events
/// carry versions and content hashes, never content, so a key that may read the stream's
/// resources (admin, read: the console's live updates) may follow them, as may one that may
/// fetch the stream.
pub async fn watch(actor: &Actor, at: (&str, &str), audience: Option<&str>) -> Result<(Stream, i64, String)> {
    let audience = audience_of(audience)?;
    let action = if actor.caller.permits(Action::Read).is_ok() { Action::Read } else { Action::Fetch(audience) };
    locate(actor, at, audience, action).await
}

fn audience_of(audience: Option<&str>) -> Result<Audience> {
    match audience.unwrap_or("server") {
        "server" => Ok(Audience::Server),
        "client" => Ok(Audience::Client),
        other => Err(Error::BadRequest(format!("audience must be \"server\" or \"client\", got \"{other}\""))),
    }
}

/// The stream, with its current `(version, etag)`, if the caller may do `action` on it.
async fn locate(
    actor: &Actor,
    (application, environment): (&str, &str),
    audience: Audience,
    action: Action,
) -> Result<(Stream, i64, String)> {
    let Actor { vane, caller } = actor;
    caller.permits(action)?;
    let audience = publish::audience_str(audience);
    let tag = match vane.memo.stream(application, environment, audience) {
        Some(tag) => tag,
        None => read_tag(&vane.pool, &vane.memo, (application, environment), audience).await?,
    };
    caller.authorize(action, Reach::stream(&tag.application_id, &tag.environment_id))?;
    let stream = Stream {
        application_id: tag.application_id,
        application: tag.application,
        environment_id: tag.environment_id,
        environment: tag.environment,
        audience,
    };
    Ok((stream, tag.version, tag.etag))
}

/// A stream's tag read from the database, and remembered under the names it was asked by.
async fn read_tag(
    pool: &sqlx::PgPool,
    memo: &Memo,
    (application, environment): (&str, &str),
    audience: &'static str,
) -> Result<StreamTag> {
    let epoch = memo.epoch();
    let app = applications::find(pool, application).await?;
    let env = environments::find(pool, environment).await?;
    let (version, etag) = publish::current(pool, &app.id, &env.id, audience)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no {audience} snapshot published for {}/{} yet", app.key, env.key)))?;
    let tag = StreamTag {
        application_id: app.id,
        application: app.key,
        environment_id: env.id,
        environment: env.key,
        version,
        etag,
    };
    memo.put_stream(application, environment, audience, tag.clone(), epoch);
    Ok(tag)
}

/// `(version, etag)` of the stream's current snapshot.
pub async fn current(vane: &Vane, s: &Stream) -> Result<(i64, String)> {
    publish::current(&vane.pool, &s.application_id, &s.environment_id, s.audience).await?.ok_or_else(|| {
        Error::NotFound(format!("no {} snapshot published for {}/{} yet", s.audience, s.application, s.environment))
    })
}

/// The body of one stored version.
pub async fn body(vane: &Vane, s: &Stream, version: i64, etag: &str) -> Result<Arc<str>> {
    let mut conn = vane.pool.acquire().await?;
    publish::stored_body(&mut conn, &s.application_id, &s.environment_id, s.audience, version, etag)
        .await?
        .ok_or_else(|| Error::NotFound("snapshot version pruned meanwhile; retry".into()))
}
