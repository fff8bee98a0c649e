//! The built-in gateway sandbox: plays Payme's and Click's servers against this server's own webhooks, over real
//! HTTP with the real credentials and signatures, so the whole payment flow works on a laptop. Reachable as a page
//! (`/sandbox/{provider}/{order_id}`, when `PAYMENT_SANDBOX` is on) and from the CLI (`server sandbox payme
//! --order 5 --action pay`). It holds no payment logic of its own: it only sends what the providers would send.

mod cli;
mod gateway;
mod merchant;
mod page;

use axum::{
    Router,
    routing::{get, post},
};

pub use self::{
    cli::cli,
    gateway::{Action, Exchange, Gateway},
};
use crate::state::AppState;

/// `/sandbox/{provider}/{order_id}`: the page (GET) and its buttons (POST), for the order's client or an admin;
/// `/sandbox/click-api/…`: the stand-in for Click's merchant API; `/sandbox/receipt`: a sandbox receipt.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/sandbox/{provider}/{order_id}",
            get(page::get_sandbox_page).post(page::play_sandbox_action),
        )
        .route(
            "/sandbox/click-api/payment/ofd_data/submit_items",
            post(merchant::submit_items),
        )
        .route(
            "/sandbox/click-api/payment/ofd_data/{service_id}/{payment_id}",
            get(merchant::receipt_url),
        )
        .route("/sandbox/receipt", get(merchant::receipt_page))
}
