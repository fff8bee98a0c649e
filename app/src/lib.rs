//! Task's shared crate: wire types ([`models`]), the UI ([`App`]), and behind `ssr` the domain layer.

#[cfg(feature = "ssr")]
pub mod domain;
pub mod models;
mod ui;

pub use ui::{App, shell};
