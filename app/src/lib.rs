//! Task's shared crate: wire types ([`models`]), the languages ([`lang`]), the UI ([`App`]) with its server
//! functions ([`api`]), and behind `ssr` the domain layer.

pub mod api;
#[cfg(feature = "ssr")]
pub mod domain;
pub mod lang;
pub mod models;
mod ui;

mod locales;
pub use locales::i18n;

pub use ui::{App, shell};
