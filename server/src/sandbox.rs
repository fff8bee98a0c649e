//! The built-in gateway sandbox: plays Payme's and Click's servers against this server's own webhooks, over real
//! HTTP with the real credentials and signatures, so the whole payment flow works on a laptop. Reachable as a page
//! (`/sandbox/{provider}/{order_id}`, when `PAYMENT_SANDBOX` is on) and from the CLI (`server sandbox payme
//! --order 5 --action pay`). It holds no payment logic of its own: it only sends what the providers would send.

mod cli;
mod gateway;
mod page;

use axum::{Router, routing::get};

pub use self::{
    cli::cli,
    gateway::{Action, Exchange, Gateway},
};
use crate::state::AppState;

/// `/sandbox/{provider}/{order_id}`: the page (GET) and its buttons (POST), for the order's client or an admin.
pub fn router() -> Router<AppState> {
    Router::new().route(
        "/sandbox/{provider}/{order_id}",
        get(page::get_sandbox_page).post(page::play_sandbox_action),
    )
}
