//! Sockets that open read the database together. Every socket that opens asks one question of the database
//! ([`feed::openings`]: may it open, is its catch-up from memory still right, where does its feed end). After a
//! restart or a deploy every client reconnects within a second or two; one query each, ten thousand of them, kept
//! the sockets waiting in line for connections and the pool from answering requests. Here the questions of every
//! socket opening meanwhile wait for the query in flight to finish and then go as one statement: the database
//! answers a storm in a few dozen round trips on one connection, and one socket alone still in one.

use std::{
    sync::{Arc, Mutex, PoisonError, Weak},
    time::Duration,
};

use app::domain::{
    Error, Result,
    feed::{self, Opening, OpeningQuery},
};
use sqlx::PgPool;
use tokio::sync::{Notify, oneshot};

/// The most sockets answered by one statement. Bounded, so that an answer wakes a few hundred sockets at a time:
/// a request waits for its turn on the runtime behind every task that is ready to run.
const MAX_BATCH: usize = 256;

type Waiting = (OpeningQuery, oneshot::Sender<Result<Opening>>);

/// The queue of sockets waiting for their opening's answer. Cheap to share.
pub struct Openings {
    db: PgPool,
    waiting: Mutex<Vec<Waiting>>,
    wake: Notify,
}

impl Openings {
    /// The queue, and the task that answers it while the queue is alive.
    pub fn start(db: PgPool) -> Arc<Self> {
        let openings = Arc::new(Self {
            db,
            waiting: Mutex::default(),
            wake: Notify::new(),
        });
        tokio::spawn(answer(Arc::downgrade(&openings)));
        openings
    }

    /// The answer to `query`, read with those of every other socket opening meanwhile.
    pub async fn ask(&self, query: OpeningQuery) -> Result<Opening> {
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((query, tx));
        self.wake.notify_one();
        rx.await
            .map_err(|_| Error::Internal(anyhow::anyhow!("the feed's openings stopped")))?
    }

    fn take(&self) -> Vec<Waiting> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let cut = waiting.len().min(MAX_BATCH);
        let rest = waiting.split_off(cut);
        std::mem::replace(&mut *waiting, rest)
    }
}

/// Answers the queue, a batch at a time, until it is dropped.
async fn answer(openings: Weak<Openings>) {
    loop {
        let Some(queue) = openings.upgrade() else {
            return;
        };
        let batch = queue.take();
        if batch.is_empty() {
            // `notify_one` keeps a permit when nobody waits, so a socket that queued after `take` still wakes this;
            // the timeout lets go of the queue now and then, to notice that the feed is gone.
            let _ = tokio::time::timeout(Duration::from_secs(1), queue.wake.notified()).await;
            continue;
        }
        let (queries, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        metrics::histogram!("feed_openings_batch_size").record(queries.len() as f64);
        match feed::openings(&queue.db, &queries).await {
            Ok(opened) => {
                for (answer, opening) in answers.into_iter().zip(opened) {
                    let _ = answer.send(Ok(opening));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, sockets = queries.len(), "Failed to read the openings of feed sockets");
                for answer in answers {
                    let _ = answer.send(Err(Error::Internal(anyhow::anyhow!(
                        "the feed's opening read failed"
                    ))));
                }
            }
        }
    }
}
