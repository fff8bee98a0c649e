//! Task's shared crate: wire types ([`models`]), the languages ([`lang`]), the UI ([`App`]) with its server
//! functions ([`api`]), and behind `ssr` the domain layer.

pub mod api;
#[cfg(feature = "ssr")]
pub mod domain;
pub mod lang;
pub mod models;
mod ui;

// The `i18n` module: the `Locale` enum and the `t!`-family macros over `locales/*.json`. The build-script code
// generator that replaces this macro needs ICU's data tooling (hundreds of crates, with network features); the
// macro reads the same files with none of that.
#[expect(
    deprecated,
    reason = "`load_locales!` is deprecated in favour of the build-script generator (see above)"
)]
mod locales {
    leptos_i18n::load_locales!();
}
pub use locales::i18n;

pub use ui::{App, shell};
