//! The `i18n` module: the `Locale` enum and the `t!`-family macros over `locales/*.json`. The build-script code
//! generator that replaces this macro needs ICU's data tooling (hundreds of crates, with network features); the
//! macro reads the same files with none of that.

leptos_i18n::load_locales!();
