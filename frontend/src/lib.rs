//! The WASM entry point: hydrates the islands of the server-rendered page (see `app::ui::live::TopBar`).

// The islands are exported by the `app` crate: link it in, though nothing here names them.
use app as _;

/// Called by the generated JS glue once the WASM module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
