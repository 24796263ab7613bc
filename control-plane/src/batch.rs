//! Group commit for flag-state writes.
//!
//! Every write publishes a complete snapshot in its own transaction, under the stream's lock, so
//! writers of one environment take turns — at ~10 ms a turn for 1,000 flags, one stream could
//! not take more than ~100 writes/s however many clients wrote. Instead, each process runs one
//! writer task per stream. Requests queue their change; the task takes everything queued (up to
//! [`MAX_BATCH`]), applies the changes one after the other in one transaction — each validated
//! (in memory) against the state the previous ones left, so an invalid or stale change fails
//! alone, before it writes anything — publishes one snapshot version and commits. A database
//! failure fails the whole batch (nothing of it commits). Each request is answered with its own
//! result only after that commit: "committed" still means "in the published snapshot".
//!
//! Lock order is the same as everywhere else: the batch's flag-state rows (in flag id order),
//! then the stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::routes::Expected;
use crate::routes::applications::Application;
use crate::routes::environments::Environment;
use crate::routes::flags::{FlagRow, StateRow, UpdateState, Working};

/// Most changes committed together.
pub const MAX_BATCH: usize = 64;

/// One queued flag-state change.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) caller: Caller,
    pub(crate) flag: FlagRow,
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
    /// Queues a change and waits for its committed result.
    pub(crate) async fn submit(
        &self,
        state: &AppState,
        app: &Application,
        env: &Environment,
        job: impl FnOnce(oneshot::Sender<Result<StateRow>>) -> Job,
    ) -> Result<StateRow> {
        let (reply, answer) = oneshot::channel();
        let sender = {
            let mut writers = self.writers.lock().map_err(|_| Error::Internal("batcher lock poisoned".into()))?;
            writers
                .entry((app.id.clone(), env.id.clone()))
                .or_insert_with(|| spawn_writer(state.clone(), app.clone(), env.clone()))
                .clone()
        };
        sender.send(job(reply)).map_err(|_| Error::Internal("the stream's writer stopped".into()))?;
        answer.await.map_err(|_| Error::Internal("the stream's writer dropped a change".into()))?
    }
}

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

fn spawn_writer(state: AppState, app: Application, env: Environment) -> mpsc::UnboundedSender<Job> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
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
    match e {
        Error::Unavailable => Error::Unavailable,
        Error::Conflict(m) => Error::Conflict(m.clone()),
        other => Error::Internal(other.to_string()),
    }
}

async fn run(state: &AppState, app: &Application, env: &Environment, jobs: Vec<Job>) {
    let (mut replies, mut work) = (Vec::with_capacity(jobs.len()), Vec::with_capacity(jobs.len()));
    for j in jobs {
        replies.push(j.reply);
        work.push((j.caller, j.flag, j.expected, j.change, j.action));
    }
    let (started, size) = (std::time::Instant::now(), work.len());
    let outcome = apply(state, app, env, work).await;
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

type Work = (Caller, FlagRow, Expected, UpdateState, &'static str);

async fn apply(
    state: &AppState,
    app: &Application,
    env: &Environment,
    work: Vec<Work>,
) -> Result<Vec<Result<StateRow>>> {
    let mut tx = state.pool.begin().await?;
    let mut ids: Vec<&str> = work.iter().map(|w| w.1.id.as_str()).collect();
    ids.sort_unstable();
    sqlx::query(
        "SELECT 1 FROM flag_states WHERE flag_id = ANY($1) AND environment_id = $2 ORDER BY flag_id FOR UPDATE",
    )
    .bind(&ids)
    .bind(&env.id)
    .execute(&mut *tx)
    .await?;
    let locked = crate::publish::lock_streams(&mut tx, &app.id, &env.id).await?;
    let model = crate::model_cache::load(&mut tx, &app.id, &env.id, Some(&locked)).await?;
    let mut working = Working { base: model, changed: HashMap::new() };
    let mut results = Vec::with_capacity(work.len());
    let mut applied = 0;
    for (caller, flag, expected, change, action) in work {
        let outcome = crate::routes::flags::apply_state(
            &mut tx,
            &caller,
            app,
            &flag,
            env,
            expected,
            change,
            action,
            Some(&mut working),
        )
        .await;
        match &outcome {
            Ok(_) => applied += 1,
            // The request's own fault, found before it wrote anything: the others go on.
            Err(Error::NotFound(_) | Error::PreconditionFailed(_) | Error::Conflict(_) | Error::Unprocessable(_)) => {}
            // A database failure aborts the transaction: nothing of the batch commits.
            Err(e) => return Err(shared(e)),
        }
        results.push(outcome);
    }
    if applied > 0 {
        crate::publish::publish(&mut tx, &app.id, &env.id).await?;
    }
    tx.commit().await?;
    // The commit is the only write request this process finished: forget what it remembered.
    state.memo.bump();
    Ok(results)
}
