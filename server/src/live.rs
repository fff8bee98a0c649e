//! The live notification feed (`GET /ws/notifications`): a per-process relay that reads committed events from
//! PostgreSQL in id order up to the stable watermark and fans them out to this process's sockets, with Redis
//! pub/sub telling every instance when to look and carrying read-state changes between a user's sockets.

mod openings;
pub mod relay;
pub mod socket;

pub use relay::{Feed, FeedMessage};
