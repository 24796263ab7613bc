//! Group commit for flag-state writes.
//!
//! Every write publishes a complete snapshot in its own transaction, under the stream's lock, so
//! writers of one environment take turns — at ~10 ms a turn for 1,000 flags, one stream could
//! not take more than ~100 writes/s however many clients wrote. Instead, each process runs one
//! writer task per stream. Requests queue their change; the task takes everything queued (up to
//! [`MAX_BATCH`]), applies the changes one after the other in one transaction — each validated
//! (in memory) against the state the previous ones left, so an invalid or stale change fails
//! alone, before it writes anything — publishes one snapshot version and commits. Each change
//! runs under a savepoint, so one the database refuses all the same is undone alone; only a
//! failure of the batch itself (the database gone, publishing) fails every member. Each request is answered with its own
//! result only after that commit: "committed" still means "in the published snapshot".
//!
//! Lock order is the same as everywhere else: the batch's flag-state rows (in flag id order),
//! then the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::auth::{Action, Caller, Reach};
use crate::error::{Error, Result};
use crate::routes::Expected;
use crate::routes::flags::{FlagRow, StateRow, UpdateState, Working};
use crate::routes::{applications, environments};

/// Most changes committed together.
pub const MAX_BATCH: usize = 64;

/// One queued flag-state change.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) caller: Caller,
    /// The flag's key or id, as the request named it.
    pub(crate) flag: String,
    pub(crate) expected: Expected,
    pub(crate) change: UpdateState,
    pub(crate) action: &'static str,
    pub(crate) reply: oneshot::Sender<Result<StateRow>>,
}

type StreamKey = (String, String);

/// The writer tasks of this process, one per stream written to.
#[derive(Debug, Clone, Default)]
pub struct Batcher {
    writers: Arc<Mutex<HashMap<StreamKey, mpsc::UnboundedSender<Job>>>>,
}

impl Batcher {
    /// Queues a change to a flag's state in `application` × `environment` (keys or ids, as the
    /// request named them) and waits for its committed result.
    pub(crate) async fn submit(
        &self,
        state: &AppState,
        application: &str,
        environment: &str,
        job: impl FnOnce(oneshot::Sender<Result<StateRow>>) -> Job,
    ) -> Result<StateRow> {
        let (reply, answer) = oneshot::channel();
        let sender = {
            let mut writers = self.writers.lock().map_err(|_| Error::Internal("batcher lock poisoned".into()))?;
            let key = (application.to_owned(), environment.to_owned());
            if writers.len() >= MAX_WRITERS && !writers.contains_key(&key) {
                // Names that resolve to nothing must not pile up tasks: start over.
                writers.clear();
            }
            writers.entry(key).or_insert_with(|| spawn_writer(state.clone(), application, environment)).clone()
        };
        sender.send(job(reply)).map_err(|_| Error::Internal("the stream's writer stopped".into()))?;
        answer.await.map_err(|_| Error::Internal("the stream's writer dropped a change".into()))?
    }
}

/// Writer tasks kept at most (one per application × environment name written to).
const MAX_WRITERS: usize = 10_000;

/// How long a batch waits for more changes when writes are arriving concurrently.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(1);

fn drain(rx: &mut mpsc::UnboundedReceiver<Job>, jobs: &mut Vec<Job>) {
    while jobs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
}

fn spawn_writer(state: AppState, application: &str, environment: &str) -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    let (app, env) = (application.to_owned(), environment.to_owned());
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
            run(&state, &app, &env, jobs).await;
        }
    });
    tx
}

/// The same failure for every job of a batch that could not commit.
fn shared(e: &Error) -> Error {
    e.clone()
}

async fn run(state: &AppState, application: &str, environment: &str, jobs: Vec<Job>) {
    let (started, size) = (std::time::Instant::now(), jobs.len());
    let (mut replies, mut work) = (Vec::with_capacity(jobs.len()), Vec::with_capacity(jobs.len()));
    for j in jobs {
        replies.push(j.reply);
        work.push((j.caller, j.flag, j.expected, j.change, j.action));
    }
    let outcome = apply(state, application, environment, work).await;
    tracing::debug!(size, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "batch committed");
    match outcome {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(shared(&e)));
            }
        }
    }
}

type Work = (Caller, String, Expected, UpdateState, &'static str);

async fn apply(
    state: &AppState,
    application: &str,
    environment: &str,
    work: Vec<Work>,
) -> Result<Vec<Result<StateRow>>> {
    let mut tx = state.pool.begin().await?;
    let app = applications::find(&mut *tx, application).await?;
    let env = environments::find(&mut *tx, environment).await?;
    // Names PostgreSQL cannot hold would fail the lookup of every member: those fail alone.
    let names: Vec<&str> = work.iter().map(|w| w.1.as_str()).filter(|n| !n.contains('\0')).collect();
    let rows: Vec<FlagRow> = sqlx::query_as(
        "SELECT id, application_id, key, type, variants, description, tags, client_visible, archived, version,
                created_at, updated_at
         FROM flags WHERE application_id = $1 AND (id = ANY($2) OR key = ANY($2))",
    )
    .bind(&app.id)
    .bind(&names)
    .fetch_all(&mut *tx)
    .await?;
    let by_name: HashMap<&str, &FlagRow> =
        rows.iter().flat_map(|r| [(r.id.as_str(), r), (r.key.as_str(), r)]).collect();
    // Lock order: the flags' states (by flag id), then the stream.
    let mut ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    let states: Vec<StateOf> = sqlx::query_as(
        "SELECT s.flag_id, s.environment_id, e.key AS environment, s.enabled, s.off_variant, s.rules, s.default_serve,
                s.prerequisites, s.salt, s.version, s.updated_at
         FROM flag_states s JOIN environments e ON e.id = s.environment_id
         WHERE s.flag_id = ANY($1) AND s.environment_id = $2 ORDER BY s.flag_id FOR UPDATE OF s",
    )
    .bind(&ids)
    .bind(&env.id)
    .fetch_all(&mut *tx)
    .await?;
    let locked = crate::publish::lock_streams(&mut tx, &app.id, &env.id).await?;
    let model = crate::model_cache::load(&mut tx, &app.id, &env.id, Some(&locked)).await?;
    let mut working = Working {
        base: model,
        changed: HashMap::new(),
        states: states.into_iter().map(|s| (s.flag_id, s.state)).collect(),
    };
    let mut results = Vec::with_capacity(work.len());
    let mut applied = 0;
    // With others in the batch, each change runs under a savepoint: should the database refuse
    // one (whatever validation missed), it is undone alone and the others still commit.
    let guarded = work.len() > 1;
    for (caller, name, expected, change, action) in work {
        if guarded {
            sqlx::query("SAVEPOINT batch_member").execute(&mut *tx).await?;
        }
        let authorised = caller.authorize(Action::Write, Reach::stream(&app.id, &env.id));
        let outcome = match (authorised, by_name.get(name.as_str())) {
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(Error::NotFound(format!("flag '{name}' not found in application '{}'", app.key))),
            (Ok(()), Some(flag)) => {
                crate::routes::flags::apply_state(
                    &mut tx,
                    &caller,
                    &app,
                    flag,
                    &env,
                    expected,
                    change,
                    action,
                    Some(&mut working),
                )
                .await
            }
        };
        match &outcome {
            Ok(_) => applied += 1,
            // The database is gone: nothing of the batch can commit.
            Err(Error::Unavailable) => return Err(Error::Unavailable),
            // The request's own fault, usually found before it wrote anything; undone either way.
            Err(_) if guarded => {
                sqlx::query("ROLLBACK TO SAVEPOINT batch_member").execute(&mut *tx).await?;
            }
            Err(
                Error::NotFound(_)
                | Error::Forbidden(_)
                | Error::PreconditionFailed(_)
                | Error::Conflict(_)
                | Error::Unprocessable(_),
            ) => {}
            // Alone in its batch, a database failure aborts the transaction.
            Err(e) => return Err(shared(e)),
        }
        results.push(outcome);
    }
    if applied > 0 {
        crate::publish::publish(&mut tx, &app.id, &env.id).await?;
    }
    tx.commit().await?;
    // This process finished writes: forget what it remembered (see crate::memo).
    state.memo.bump_streams();
    Ok(results)
}

#[derive(sqlx::FromRow)]
struct StateOf {
    flag_id: String,
    #[sqlx(flatten)]
    state: StateRow,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::flags::{CreateFlag, insert};
    use vane_core::{FlagType, KeyScope};

    /// A change PostgreSQL refuses (a NUL in its salt, which requests can no longer carry — the
    /// extractor refuses it — but which stands for anything validation might miss) must fail
    /// alone: the others committed with it succeed.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn a_member_the_database_refuses_fails_alone(pool: sqlx::PgPool) {
        let mut conn = pool.acquire().await.unwrap();
        crate::publish::publish_missing(&mut conn).await.unwrap();
        drop(conn);
        let caller =
            Caller { key_id: "test".into(), scope: KeyScope::Admin, application_id: None, environment_id: None };
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
        let state = AppState::new(pool.clone());
        // All at once, so they share batches.
        let writes = (0..21).map(|i| {
            let (state, caller) = (state.clone(), caller.clone());
            async move {
                let salt = if i == 7 { "bad\0salt".to_owned() } else { format!("salt-{i}") };
                let change = UpdateState {
                    enabled: Some(true),
                    off_variant: None,
                    rules: None,
                    default: None,
                    prerequisites: None,
                    salt: Some(salt),
                    version: None,
                };
                state
                    .batcher
                    .submit(&state, "default", "production", |reply| Job {
                        caller,
                        flag: format!("f{i}"),
                        expected: Expected::Any,
                        change,
                        action: "update",
                        reply,
                    })
                    .await
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
        let enabled: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM flag_states s JOIN environments e ON e.id = s.environment_id
             WHERE e.key = 'production' AND s.enabled",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(enabled, 20);
    }
}
