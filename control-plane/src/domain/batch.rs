//! Group commit for the hot writes: flag-state changes (per stream) and flag creation (per
//! application).
//!
//! Every write publishes the snapshots it affects in its own transaction, under the streams'
//! locks, so writers of one environment take turns — one stream could not take more than a few
//! hundred writes/s however many clients wrote, and creating a flag, which publishes every
//! environment, far fewer. Instead, each process runs one writer task per stream (state changes)
//! and per application (creations). Requests queue their change; the task takes everything
//! queued (up to [`MAX_BATCH`]), applies the changes one after the other in one transaction —
//! each validated (in memory) against the state the previous ones left, so an invalid or stale
//! change fails alone, before it writes anything — publishes once and commits. With others in
//! the batch each change runs under a savepoint, so one the database refuses all the same is
//! undone alone; only a failure of the batch itself (the database gone, publishing) fails every
//! member. Each request is answered with its own result only after that commit: "committed"
//! still means "in the published snapshot".
//!
//! Lock order is the same as everywhere else: the batch's flag-state rows (in flag id order),
//! then the streams.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use sqlx::PgPool;

use super::authz::{Action, Caller, Reach};
use super::flags::validate::Working;
use super::flags::write::{self, CreateFlag, FlagView, StateChange};
use super::memo::{Memo, Touched};
use super::versions::Expected;
use crate::error::{Error, Result};
use crate::publish::{self, model_cache};
use crate::store::flags::{self as rows, FlagRow, StateRow};
use crate::store::{self, applications, environments};

/// Most changes committed together.
pub const MAX_BATCH: usize = 64;

/// One queued change to a flag's state.
#[derive(Debug)]
pub(crate) struct QueuedChange {
    pub(crate) caller: Caller,
    /// The flag's key or id, as the request named it.
    pub(crate) flag: String,
    pub(crate) expected: Expected,
    pub(crate) change: StateChange,
    pub(crate) action: &'static str,
}

/// One queued flag creation.
#[derive(Debug)]
pub(crate) struct Creation {
    pub(crate) caller: Caller,
    pub(crate) flag: CreateFlag,
}

/// A change waiting for its writer task, and where its answer goes.
#[derive(Debug)]
struct Queued<W, T> {
    work: W,
    reply: oneshot::Sender<Result<T>>,
}

/// Where a writer task takes its changes from.
type Inbox<W, T> = mpsc::UnboundedSender<Queued<W, T>>;

/// Writer tasks by key (stream or application, as the request named it).
#[derive(Debug)]
struct Queues<K, W, T> {
    writers: Arc<Mutex<HashMap<K, Inbox<W, T>>>>,
}

impl<K, W, T> Default for Queues<K, W, T> {
    fn default() -> Self {
        Queues { writers: Arc::default() }
    }
}

impl<K, W, T> Clone for Queues<K, W, T> {
    fn clone(&self) -> Self {
        Queues { writers: self.writers.clone() }
    }
}

impl<K: Hash + Eq, W: Send + 'static, T: Send + 'static> Queues<K, W, T> {
    /// Queues `work` for the writer of `key` (started by `start` if there is none) and waits for
    /// its committed result.
    async fn submit<F, Fut>(&self, key: K, work: W, start: impl FnOnce() -> F) -> Result<T>
    where
        F: Fn(Vec<W>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<Result<T>>>> + Send,
    {
        let (reply, answer) = oneshot::channel();
        let sender = {
            let mut writers = self.writers.lock().map_err(|_| Error::Internal("batcher lock poisoned".into()))?;
            if writers.len() >= MAX_WRITERS && !writers.contains_key(&key) {
                // Names that resolve to nothing must not pile up tasks: start over.
                writers.clear();
            }
            writers.entry(key).or_insert_with(|| spawn_writer(start())).clone()
        };
        sender.send(Queued { work, reply }).map_err(|_| Error::Internal("the writer task stopped".into()))?;
        answer.await.map_err(|_| Error::Internal("the writer task dropped a change".into()))?
    }
}

/// The writer tasks of this process.
#[derive(Debug, Clone, Default)]
pub struct Batcher {
    states: Queues<(String, String), QueuedChange, StateRow>,
    creations: Queues<String, Creation, FlagView>,
}

impl Batcher {
    /// Queues a change to a flag's state in `application` × `environment` (keys or ids, as the
    /// request named them) and waits for its committed result.
    pub(crate) async fn change_state(
        &self,
        pool: &PgPool,
        memo: &Memo,
        application: &str,
        environment: &str,
        change: QueuedChange,
    ) -> Result<StateRow> {
        let key = (application.to_owned(), environment.to_owned());
        self.states
            .submit(key, change, || {
                let (pool, memo) = (pool.clone(), memo.clone());
                let (app, env) = (application.to_owned(), environment.to_owned());
                move |batch| {
                    let (pool, memo, app, env) = (pool.clone(), memo.clone(), app.clone(), env.clone());
                    async move { apply(&pool, &memo, &app, &env, batch).await }
                }
            })
            .await
    }

    /// Queues a new flag for `application` and waits for its committed result.
    pub(crate) async fn create_flag(
        &self,
        pool: &PgPool,
        memo: &Memo,
        application: &str,
        creation: Creation,
    ) -> Result<FlagView> {
        self.creations
            .submit(application.to_owned(), creation, || {
                let (pool, memo, app) = (pool.clone(), memo.clone(), application.to_owned());
                move |batch| {
                    let (pool, memo, app) = (pool.clone(), memo.clone(), app.clone());
                    async move { create(&pool, &memo, &app, batch).await }
                }
            })
            .await
    }
}

/// Writer tasks kept at most (one per key written to).
const MAX_WRITERS: usize = 10_000;

/// How long a batch waits for more changes when writes are arriving concurrently.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

fn drain<W, T>(rx: &mut mpsc::UnboundedReceiver<Queued<W, T>>, jobs: &mut Vec<Queued<W, T>>) {
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

/// Starts a writer task that applies what is queued, batch by batch, with `apply`.
fn spawn_writer<W, T, F, Fut>(apply: F) -> mpsc::UnboundedSender<Queued<W, T>>
where
    W: Send + 'static,
    T: Send + 'static,
    F: Fn(Vec<W>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<Result<T>>>> + Send,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<Queued<W, T>>();
    tokio::spawn(async move {
        let mut concurrent = false;
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            drain(&mut rx, &mut jobs);
            // Writers answered by the previous batch are about to send again: when writes come
            // concurrently, waiting a moment for them makes fewer, larger batches.
            if concurrent && jobs.len() < MAX_BATCH {
                tokio::time::sleep(GATHER).await;
                drain(&mut rx, &mut jobs);
            }
            concurrent = jobs.len() > 1;
            let (started, size) = (std::time::Instant::now(), jobs.len());
            let (replies, batch): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.reply, j.work)).unzip();
            let outcome = apply(batch).await;
            tracing::debug!(size, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "batch committed");
            match outcome {
                Ok(results) => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                }
                // The same failure for every member of a batch that could not commit.
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        }
    });
    tx
}

/// Opens one member of a batch: with company, a savepoint, so that whatever it fails with (its
/// own fault, or the database refusing it) it is undone alone by [`settle`].
async fn begin_member(tx: &mut sqlx::PgConnection, guarded: bool) -> Result<()> {
    if guarded {
        store::savepoint(&mut *tx).await?;
    }
    Ok(())
}

/// Settles a member's outcome: undone to its savepoint if it failed. Only the database going
/// away, or a database failure of a member alone in its batch, fails the batch (`Err`).
async fn settle<T>(tx: &mut sqlx::PgConnection, guarded: bool, outcome: Result<T>) -> Result<Result<T>> {
    match &outcome {
        Ok(_) => {}
        Err(Error::Unavailable) => return Err(Error::Unavailable),
        Err(_) if guarded => {
            store::back_to_savepoint(&mut *tx).await?;
        }
        // The request's own fault, found before it wrote anything.
        Err(
            Error::NotFound(_)
            | Error::Forbidden(_)
            | Error::PreconditionFailed(_)
            | Error::Conflict(_)
            | Error::Unprocessable(_),
        ) => {}
        Err(e) => return Err(e.clone()),
    }
    Ok(outcome)
}

/// Creates a batch of flags in one transaction: each inserted (under its savepoint), then every
/// environment of the application published once.
async fn create(pool: &PgPool, memo: &Memo, application: &str, batch: Vec<Creation>) -> Result<Vec<Result<FlagView>>> {
    let mut tx = pool.begin().await?;
    let app = applications::find(&mut *tx, application).await?;
    let guarded = batch.len() > 1;
    let mut results = Vec::with_capacity(batch.len());
    for Creation { caller, flag } in batch {
        begin_member(&mut tx, guarded).await?;
        let outcome = match caller.authorize(Action::Write, Reach::definitions(&app.id)) {
            Ok(()) => write::insert_unpublished(&mut tx, &caller, &app, flag).await,
            Err(e) => Err(e),
        };
        results.push(settle(&mut tx, guarded, outcome).await?);
    }
    if results.iter().any(Result::is_ok) {
        publish::publish_application(&mut tx, &app.id).await?;
    }
    tx.commit().await?;
    // This process finished writes: forget what it remembered (see `Memo`).
    memo.written(Touched::Streams);
    Ok(results)
}

async fn apply(
    pool: &PgPool,
    memo: &Memo,
    application: &str,
    environment: &str,
    work: Vec<QueuedChange>,
) -> Result<Vec<Result<StateRow>>> {
    let mut tx = pool.begin().await?;
    let app = applications::find(&mut *tx, application).await?;
    let env = environments::find(&mut *tx, environment).await?;
    // Names PostgreSQL cannot hold would fail the lookup of every member: those fail alone.
    let names: Vec<String> = work.iter().map(|w| w.flag.clone()).filter(|n| !n.contains('\0')).collect();
    let rows: Vec<FlagRow> = rows::find_many(&mut tx, &app.id, &names).await?;
    let by_name: HashMap<&str, &FlagRow> =
        rows.iter().flat_map(|r| [(r.id.as_str(), r), (r.key.as_str(), r)]).collect();
    // Lock order: the flags' states (by flag id), then the stream.
    let mut ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    ids.sort_unstable();
    let states = rows::lock_states(&mut tx, &ids, &env.id).await?;
    let locked = publish::lock_streams(&mut tx, &app.id, &env.id).await?;
    let model = model_cache::load(&mut tx, &app.id, &env.id, Some(&locked)).await?;
    let mut working = Working { base: model, changed: HashMap::new(), states: states.into_iter().collect() };
    let mut results = Vec::with_capacity(work.len());
    let guarded = work.len() > 1;
    for QueuedChange { caller, flag: name, expected, change, action } in work {
        begin_member(&mut tx, guarded).await?;
        let authorised = caller.authorize(Action::Write, Reach::stream(&app.id, &env.id));
        let outcome = match (authorised, by_name.get(name.as_str())) {
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(Error::NotFound(format!("flag '{name}' not found in application '{}'", app.key))),
            (Ok(()), Some(flag)) => {
                write::apply_state(&mut tx, &caller, &app, flag, &env, expected, change, action, Some(&mut working))
                    .await
            }
        };
        results.push(settle(&mut tx, guarded, outcome).await?);
    }
    let applied = results.iter().filter(|r| r.is_ok()).count();
    if applied > 0 {
        publish::publish(&mut tx, &app.id, &env.id).await?;
    }
    tx.commit().await?;
    // This process finished writes: forget what it remembered (see `Memo`).
    memo.written(Touched::Streams);
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::flags::write::insert;
    use vane_core::{FlagType, KeyScope};

    /// A change PostgreSQL refuses (a NUL in its salt, which requests can no longer carry — the
    /// extractor refuses it — but which stands for anything validation might miss) must fail
    /// alone: the others committed with it succeed.
    #[sqlx::test(migrator = "store::MIGRATOR")]
    async fn a_member_the_database_refuses_fails_alone(pool: PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        publish::publish_missing(&mut conn).await.unwrap();
        drop(conn);
        let caller = Caller {
            key_id: "test".into(),
            scope: KeyScope::Admin,
            application_id: None,
            environment_id: None,
            console: false,
        };
        let mut tx = pool.begin().await.unwrap();
        let app = applications::find(&mut *tx, "default").await.unwrap();
        for i in 0..21 {
            let body = CreateFlag {
                key: format!("f{i}"),
                flag_type: FlagType::Boolean,
                variants: Vec::new(),
                description: String::new(),
                tags: Vec::new(),
                client_visible: false,
            };
            insert(&mut tx, &caller, &app, body).await.unwrap();
        }
        tx.commit().await.unwrap();
        let (batcher, memo) = (Batcher::default(), Memo::default());
        // All at once, so they share batches.
        let writes = (0..21).map(|i| {
            let (batcher, memo, pool, caller) = (batcher.clone(), memo.clone(), pool.clone(), caller.clone());
            async move {
                let salt = if i == 7 { "bad\0salt".to_owned() } else { format!("salt-{i}") };
                let change = StateChange { enabled: Some(true), salt: Some(salt), ..StateChange::default() };
                let job =
                    QueuedChange { caller, flag: format!("f{i}"), expected: Expected::Any, change, action: "update" };
                batcher.change_state(&pool, &memo, "default", "production", job).await
            }
        });
        let results = futures_util::future::join_all(writes).await;
        for (i, r) in results.iter().enumerate() {
            if i == 7 {
                assert!(matches!(r, Err(Error::Unprocessable(_))), "the bad one: {r:?}");
            } else {
                assert!(r.as_ref().is_ok_and(|s| s.enabled && s.salt == format!("salt-{i}")), "f{i}: {r:?}");
            }
        }
        let enabled = sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM flag_states s JOIN environments e ON e.id = s.environment_id
               WHERE e.key = 'production' AND s.enabled"#
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(enabled, 20);
    }
}
