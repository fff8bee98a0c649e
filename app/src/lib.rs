//! Task's shared crate: wire types ([`models`]), the languages ([`lang`]), the UI ([`App`]) with its server
//! functions ([`api`]), and behind `ssr` the domain layer.

pub mod api;
#[cfg(feature = "ssr")]
pub mod domain;
pub mod lang;
pub mod models;
mod ui;

#[expect(
    deprecated,
    reason = "`load_locales!` is deprecated in favour of a build-script generator that needs ICU's data tooling"
)]
mod locales;
pub use locales::i18n;

pub use ui::{App, shell};
