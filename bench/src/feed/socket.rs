//! A run's feed sockets: each opened as an admin, a worker or a client, each recording when every order's frame
//! arrived until the run closes them.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use tokio::{
    sync::{Semaphore, oneshot, watch},
    task::JoinHandle,
};

use crate::{
    fixtures::{Fixture, World},
    listener::{Frame, Listener},
    stats::wall_clock,
};

/// Handshakes in flight at once while the sockets open.
const OPENING_AT_ONCE: usize = 200;

/// What one socket saw: (order id, when the kernel received its frame, when the load generator read it), as time
/// since the Unix epoch.
pub type Seen = Vec<(i64, Duration, Duration)>;

/// A socket's user's role, which decides which orders' events it gets.
#[derive(Clone, Copy)]
enum Role {
    Admin,
    Worker,
    Client,
}

/// Whose socket it is.
#[derive(Clone, Copy)]
pub struct Owner {
    role: Role,
    user: i64,
}

impl Owner {
    /// The user of a run's `i`-th socket: 10 % admins, 10 % workers, 80 % clients.
    fn of(world: &World, i: usize) -> (Self, &Fixture) {
        let (role, user) = match i % 10 {
            0 => (Role::Admin, &world.admins[i / 10 % world.admins.len()]),
            1 => (Role::Worker, &world.workers[i / 10 % world.workers.len()]),
            _ => (Role::Client, world.client(i)),
        };
        (
            Self {
                role,
                user: user.id,
            },
            user,
        )
    }

    /// Whether the socket's user may see the events of the run's `index`-th order: an admin sees every order, a
    /// worker or a client only their own.
    pub fn sees(self, world: &World, index: usize) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Worker => world.worker(index).id == self.user,
            Role::Client => world.client(index).id == self.user,
        }
    }
}

/// A run's sockets, open and recording until closed.
pub struct Sockets {
    stop: watch::Sender<bool>,
    open: Vec<(Owner, JoinHandle<anyhow::Result<Seen>>)>,
}

impl Sockets {
    /// Opens `n` sockets on `host` (a few hundred handshakes at a time) and returns once every one has had its
    /// hello.
    pub async fn open(host: &str, world: &World, n: usize) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let gate = Arc::new(Semaphore::new(OPENING_AT_ONCE));
        let mut opening = Vec::new();
        for i in 0..n {
            let (owner, user) = Owner::of(world, i);
            let (ready_tx, ready_rx) = oneshot::channel::<()>();
            let task = record(
                host.to_owned(),
                user.token.clone(),
                i as u64,
                gate.clone(),
                ready_tx,
                stopped.clone(),
            );
            opening.push((owner, ready_rx, tokio::spawn(task)));
        }
        let mut open = Vec::new();
        for (owner, ready, handle) in opening {
            ready.await.context("a socket failed to open")?;
            open.push((owner, handle));
        }
        Ok(Self { stop, open })
    }

    /// Stops every socket and returns what each saw, with whose it was.
    pub async fn close(self) -> anyhow::Result<Vec<(Owner, Seen)>> {
        self.stop.send(true)?;
        let mut seen = Vec::new();
        for (owner, handle) in self.open {
            seen.push((owner, handle.await??));
        }
        Ok(seen)
    }
}

/// One socket's life: opens it (`key` makes its handshake key), waits for its hello, says it is `ready`, then
/// records every order's frame until `stop`.
async fn record(
    host: String,
    token: String,
    key: u64,
    gate: Arc<Semaphore>,
    ready: oneshot::Sender<()>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Seen> {
    let permit = gate.acquire_owned().await?;
    let mut socket = Listener::connect(&host, "/ws/notifications", &token, key)
        .await
        .context("socket connect")?;
    socket
        .until(|text| find(text, br#""type":"hello""#).is_some())
        .await
        .context("hello")?;
    drop(permit);
    let _ = ready.send(());
    let mut seen: Seen = Vec::new();
    // One waiter on the stop signal for the socket's life, not one per frame: 10 000 sockets re-registering with
    // one shared `Notify` per frame contend on its lock.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            biased;
            filled = socket.fill() => {
                let read = wall_clock();
                let Some(arrived) = filled? else {
                    break;
                };
                // A cheap scan instead of a JSON parse: the load generator shares the cores.
                let open = socket
                    .drain(|frame| {
                        if let Frame::Text(text) = frame
                            && let Some(order) = order_id_of(text)
                        {
                            seen.push((order, arrived, read));
                        }
                    })
                    .await?;
                if !open {
                    break;
                }
            }
            _ = &mut stopped => break,
        }
    }
    Ok(seen)
}

/// Where `needle` starts in `haystack`, if it occurs.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The `order_id` of a notification frame, found without parsing the whole frame.
fn order_id_of(frame: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"order_id\":";
    let at = find(frame, KEY)? + KEY.len();
    let digits = &frame[at..];
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_of_finds_the_order_of_a_notification_frame() {
        for (frame, expected, description) in [
            (
                &br#"{"type":"notification","notification":{"id":7,"order_id":1234,"kind":"x"}}"#[..],
                Some(1234),
                "a notification",
            ),
            (
                br#"{"order_id":42}"#,
                Some(42),
                "the id at the end of an object",
            ),
            (
                br#"{"type":"hello","last_id":9}"#,
                None,
                "a hello has no order",
            ),
            (br#"{"order_id":null}"#, None, "no digits"),
        ] {
            assert_eq!(order_id_of(frame), expected, "{description}");
        }
    }

    #[test]
    fn sockets_are_a_tenth_admins_a_tenth_workers_and_the_rest_clients_who_see_their_own_orders() {
        let user = |id| Fixture {
            id,
            token: String::new(),
        };
        let world = World {
            admins: vec![user(1), user(2)],
            workers: vec![user(10), user(11), user(12)],
            clients: vec![user(100), user(101), user(102), user(103)],
            service: 1,
        };

        let owners: Vec<(Owner, i64)> = (0..22)
            .map(|i| {
                let (owner, fixture) = Owner::of(&world, i);
                (owner, fixture.id)
            })
            .collect();

        assert!(matches!(owners[0].0.role, Role::Admin) && owners[0].1 == 1);
        assert!(matches!(owners[10].0.role, Role::Admin) && owners[10].1 == 2);
        assert!(matches!(owners[11].0.role, Role::Worker) && owners[11].1 == 11);
        assert!(matches!(owners[21].0.role, Role::Worker) && owners[21].1 == 12);
        assert!(matches!(owners[5].0.role, Role::Client) && owners[5].1 == 101);
        assert!(owners.iter().all(|(owner, id)| owner.user == *id));
        // Order 5 is client 101's (5 % 4) and worker 12's (5 % 3).
        let sees = |i: usize| owners[i].0.sees(&world, 5);
        assert!(sees(0), "an admin sees every order");
        assert!(
            sees(21) && !sees(11),
            "a worker sees only the orders they serve"
        );
        assert!(sees(5) && !sees(2), "a client sees only their own orders");
    }
}
