//! The sandbox page: the order, one button per [`Action`], and after a press the exchanges the gateway made with
//! the webhooks. A standalone page rendered by Leptos on the server (nothing on it hydrates: it is plain forms).

use app::{
    domain::{Actor, Error, orders, payments::click},
    models::{OrderStatus, PaymentProvider, Role},
};
use axum::{
    Extension, Form,
    extract::{Path, State},
    response::Html,
};
use leptos::{either::Either, prelude::*};
use serde::Deserialize;

use super::{Action, Exchange};
use crate::{extract::AuthUser, http::headers::CspNonce, state::AppState};

/// The page's own styles: it stands apart from the app's stylesheet and bundle.
const STYLE: &str = "
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
.note{background:#fff4d6;border:1px solid #e0b300;padding:.5rem 1rem;border-radius:.5rem}
button{font:inherit;margin:.25rem;padding:.5rem 1rem;border-radius:.5rem;border:1px solid #2a5bd7;\
background:#2a5bd7;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#2a5bd7} pre{background:#f3f5f8;padding:.5rem;overflow:auto;white-space:pre-wrap}
.ok{color:#1a7f37} .bad{color:#b42318}";

/// The empty comment that Leptos, with `erase_components`, writes after every element's children so that hydration
/// can find its place. This page never hydrates, and inside `<title>` (whose text is not parsed as markup) the
/// marker would show as text. Removing it cannot change what the page says: Leptos escapes every `<` in text, so
/// the marker only ever comes from Leptos itself, and the page's attribute values are constants and numbers.
const HYDRATION_MARKER: &str = "<!>";

/// The pressed button.
#[derive(Deserialize)]
pub(super) struct ActForm {
    action: Action,
}

/// GET `/sandbox/{provider}/{order_id}`: the page.
pub(super) async fn get_sandbox_page(
    State(state): State<AppState>,
    nonce: Option<Extension<CspNonce>>,
    AuthUser(actor): AuthUser,
    Path((provider, order_id)): Path<(String, i64)>,
) -> Result<Html<String>, Error> {
    let page = SandboxPage::load(&state, &actor, &provider, order_id, None).await?;
    Ok(Html(page.render(nonce.map(|Extension(n)| n))))
}

/// POST `/sandbox/{provider}/{order_id}`: plays the pressed action, then shows the page with its exchanges.
pub(super) async fn play_sandbox_action(
    State(state): State<AppState>,
    nonce: Option<Extension<CspNonce>>,
    AuthUser(actor): AuthUser,
    Path((provider, order_id)): Path<(String, i64)>,
    Form(form): Form<ActForm>,
) -> Result<Html<String>, Error> {
    let page = SandboxPage::load(&state, &actor, &provider, order_id, Some(form.action)).await?;
    Ok(Html(page.render(nonce.map(|Extension(n)| n))))
}

/// What the page shows.
struct SandboxPage {
    provider: PaymentProvider,
    order_id: i64,
    service_name: String,
    price: i64,
    status: OrderStatus,
    /// The exchanges of the action just played, or why it could not be played; `None` before any press.
    outcome: Option<Result<Vec<Exchange>, String>>,
}

impl SandboxPage {
    /// Checks that the sandbox is on, the provider exists and `actor` may see the order, then plays `action` (if
    /// any) and reads the order again.
    async fn load(
        state: &AppState,
        actor: &Actor,
        provider: &str,
        order_id: i64,
        action: Option<Action>,
    ) -> Result<Self, Error> {
        let gateway = state.sandbox.as_ref().ok_or(Error::NotFound)?;
        let provider = provider
            .parse::<PaymentProvider>()
            .map_err(|_| Error::NotFound)?;
        if actor.role == Role::Worker {
            return Err(Error::PermissionDenied);
        }
        let order = orders::get(&state.ctx, actor, order_id).await?;
        let outcome = match action {
            Some(action) => Some(
                gateway
                    .run(&state.ctx.db, provider, order_id, action)
                    .await
                    .map_err(|e| format!("{e:#}")),
            ),
            None => None,
        };
        // Re-read after the run: the webhooks changed it.
        let status = orders::get(&state.ctx, actor, order_id)
            .await
            .map_or(order.status, |o| o.status);
        Ok(Self {
            provider,
            order_id,
            service_name: order.service_name,
            price: order.price,
            status,
            outcome,
        })
    }

    /// The whole document, escaped by Leptos, without hydration markers (see [`HYDRATION_MARKER`]); its inline
    /// styles carry the response's CSP `nonce`.
    fn render(self, nonce: Option<CspNonce>) -> String {
        let Self {
            provider,
            order_id,
            service_name,
            price,
            status,
            outcome,
        } = self;
        let name = match provider {
            PaymentProvider::Payme => "Payme",
            PaymentProvider::Click => "Click",
        };
        let buttons = Action::ALL
            .into_iter()
            .map(|action| {
                view! {
                    <button class:secondary=action != Action::Pay name="action" value=action.as_str()>
                        {action.as_str()}
                    </button>
                }
            })
            .collect_view();
        let outcome = outcome.map(|outcome| match outcome {
            Ok(log) => Either::Left(view! {
                <h2>"Exchanges"</h2>
                <ol>{log.into_iter().map(|step| view! { <ExchangeItem step/> }).collect_view()}</ol>
            }),
            Err(error) => Either::Right(view! { <p class="bad">{error}</p> }),
        });
        view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <title>{format!("{name} sandbox · order #{order_id}")}</title>
                    <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                    <style nonce=nonce.map(|CspNonce(n)| n)>{STYLE}</style>
                </head>
                <body>
                    <p class="note">
                        {format!(
                            "Gateway sandbox: this page plays {name}'s server against this deployment's webhook, \
                             over real HTTP with the real credentials. No money moves. Off in production."
                        )}
                    </p>
                    <h1>{format!("{name} · order #{order_id}")}</h1>
                    <p>
                        {format!("{service_name} — {} so'm — status ", click::format_sum(price))}
                        <strong id="status">{status.as_str()}</strong>
                    </p>
                    <form method="post">{buttons}</form>
                    <p><a href=format!("/orders/{order_id}")>"Back to the order"</a></p>
                    {outcome}
                </body>
            </html>
        }
        .to_html()
        .replace(HYDRATION_MARKER, "")
    }
}

/// One exchange: the call, marked by whether its answer was the expected one, then what went and what came back.
#[component]
fn ExchangeItem(step: Exchange) -> impl IntoView {
    view! {
        <li>
            <strong class=if step.ok { "ok" } else { "bad" }>{step.call}</strong>
            <pre>{format!("→ {}", step.request)}</pre>
            <pre>{format!("← {}", step.response)}</pre>
        </li>
    }
}
