//! The UI's server functions, under `/_fn/`: thin adapters over the same domain layer as the REST API. Each
//! one finds its caller in the request (resolved by the server's middleware from the session cookie), calls
//! the domain, and answers the contract's error envelope as [`ApiError`] with the matching HTTP status.

use std::collections::BTreeMap;

use leptos::{
    prelude::*,
    server_fn::{
        codec::{Json, JsonEncoding},
        error::{FromServerFnError, ServerFnErrorErr},
    },
};
use serde::{Deserialize, Serialize};

use crate::models::{
    Dashboard, Message, Notification, NotificationKind, Order, OrderStatus, PaymentCheckout,
    PaymentProvider, Role, Service, Transaction, TransactionStatus, User, UserSummary,
};

/// Rows per page of every list.
pub const PAGE_SIZE: i64 = 20;

/// A failed server function: the REST error envelope plus the HTTP status (0 when the server was not reached).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{detail}")]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub detail: String,
    /// Messages by field, for forms.
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
}

impl ApiError {
    /// The messages of one field, joined.
    pub fn field(&self, name: &str) -> Option<String> {
        self.errors.get(name).map(|m| m.join(" "))
    }

    /// Whether signing in again would help.
    pub fn is_unauthenticated(&self) -> bool {
        self.status == 401
    }
}

impl FromServerFnError for ApiError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let (status, code, detail) = match value {
            ServerFnErrorErr::Request(e) => (0, "network", e),
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => (400, "invalid", e),
            ServerFnErrorErr::Deserialization(e) | ServerFnErrorErr::Response(e) => {
                (502, "bad_response", e)
            }
            _ => (500, "server_error", "A server error occurred.".to_owned()),
        };
        Self {
            status,
            code: code.to_owned(),
            detail,
            errors: BTreeMap::new(),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listing<T> {
    /// Rows in the whole list.
    pub count: i64,
    /// This page, from 1.
    pub page: i64,
    pub items: Vec<T>,
}

impl<T> Listing<T> {
    /// Pages in the whole list (at least 1).
    pub fn pages(&self) -> i64 {
        ((self.count + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
    }
}

/// A service in the catalogue, with the workers a client may choose from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub service: Service,
    pub workers: Vec<UserSummary>,
}

/// Everything the order page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub order: Order,
    /// The order's events, newest first.
    pub timeline: Vec<Notification>,
    /// The conversation, oldest first (the latest 100).
    pub messages: Vec<Message>,
    /// The statuses the caller may move the order to.
    pub next: Vec<OrderStatus>,
    /// Whether the caller may pay for it now.
    pub payable: bool,
    /// The payment providers enabled on this server.
    pub providers: Vec<PaymentProvider>,
    /// For admins: the workers who may be assigned (the service's workers).
    pub workers: Vec<UserSummary>,
    /// Payment attempts (for the order's client and admins).
    pub transactions: Vec<Transaction>,
}

#[cfg(feature = "ssr")]
pub use backend::{Backend, Caller};

#[cfg(feature = "ssr")]
mod backend {
    use std::sync::Arc;

    use leptos::prelude::*;
    use sqlx::PgPool;

    use super::ApiError;
    use crate::domain::{
        Actor, Error,
        auth::Tokens,
        feed::EventSink,
        page::Window,
        password::Hasher,
        payments::Settings,
        session::{CookiePolicy, Gate},
    };

    /// What server functions work with, provided by the server for every page and server-function request.
    #[derive(Clone)]
    pub struct Backend {
        pub db: PgPool,
        pub tokens: Arc<Tokens>,
        pub hasher: Hasher,
        pub gate: Gate,
        pub cookies: CookiePolicy,
        pub payments: Arc<Settings>,
        pub events: Arc<dyn EventSink>,
    }

    /// Who sent the request: put into the request's extensions by the server's middleware.
    #[derive(Debug, Clone, Default)]
    pub struct Caller {
        /// The client's address (as the REST API's rate limits see it).
        pub ip: String,
        /// The signed-in user, if the session cookie is valid.
        pub actor: Option<Actor>,
        /// For page requests of a signed-in user: their session (see [`super::load_session`]).
        pub session: Option<super::Session>,
    }

    impl From<Error> for ApiError {
        fn from(e: Error) -> Self {
            let status = e.status();
            if status.is_server_error() {
                tracing::error!(error = %format!("{e:#}"), status = status.as_u16(), "Server function failed");
            }
            // A plain form post is answered with a redirect back to its page, which shows the error (see
            // `leptos_axum`'s form redirects); an error status would replace that redirect with a raw body.
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>()
                && !is_form_post()
            {
                response.set_status(status);
            }
            let body = e.body();
            Self {
                status: status.as_u16(),
                code: body.code,
                detail: body.detail,
                errors: body.errors.unwrap_or_default(),
            }
        }
    }

    /// Whether the request is a plain form post from a page to a server function (it accepts HTML), rather
    /// than a call by a script or a page being rendered.
    pub fn is_form_post() -> bool {
        use_context::<axum::http::request::Parts>().is_some_and(|parts| {
            parts.method == axum::http::Method::POST
                && parts.uri.path().starts_with("/_fn/")
                && parts
                    .headers
                    .get(axum::http::header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.contains("text/html"))
        })
    }

    use crate::domain::session::{FORM_ERROR_PARAMS, address};

    /// The notices a page shows once after a form post (`?saved=`, `?created=`).
    const NOTICES: [&str; 2] = ["saved", "created"];

    /// Where a form post returns to: the page it came from (its path and query, without earlier notices and
    /// errors), or `page` when the request does not say; with `notice` (`key=value`) added.
    pub fn back_to(page: &str, notice: Option<(&str, &str)>) -> String {
        let referer = use_context::<axum::http::request::Parts>().and_then(|parts| {
            parts
                .headers
                .get(axum::http::header::REFERER)?
                .to_str()
                .ok()
                .map(str::to_owned)
        });
        let local = referer.as_deref().and_then(|referer| {
            let rest = referer.split_once("://").map_or(referer, |(_, rest)| rest);
            let local = &rest[rest.find('/')?..];
            // Only a path on this site: `//host` or `/\host` would leave it.
            (!local.starts_with("//") && !local.starts_with("/\\")).then_some(local)
        });
        let local = local.unwrap_or(page);
        let local = local.split('#').next().unwrap_or(page);
        let (path, query) = local.split_once('?').unwrap_or((local, ""));
        let dropped = |k: &str| FORM_ERROR_PARAMS.contains(&k) || NOTICES.contains(&k);
        address(path, query, dropped, notice)
    }

    pub fn backend() -> Result<Backend, ApiError> {
        use_context::<Backend>()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("no Backend in the context")).into())
    }

    pub fn caller() -> Caller {
        use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>().cloned())
            .unwrap_or_default()
    }

    /// The signed-in caller, or 401.
    pub fn actor() -> Result<Actor, ApiError> {
        caller().actor.ok_or_else(|| Error::NotAuthenticated.into())
    }

    /// The rows of page `page` (from 1).
    pub fn window(page: i64) -> Window {
        Window {
            limit: super::PAGE_SIZE,
            offset: (page.max(1) - 1).saturating_mul(super::PAGE_SIZE),
        }
    }

    pub fn set_cookie(value: &str) {
        if let (Some(response), Ok(value)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.append_header(axum::http::header::SET_COOKIE, value);
        }
    }
}

#[cfg(feature = "ssr")]
use backend::{actor, back_to, backend, caller, set_cookie, window};

/// Hands the browser a new session (the two cookies).
#[cfg(feature = "ssr")]
fn set_session_cookies(b: &Backend, access: &str, refresh: &str) {
    for cookie in b.cookies.session(Some((access, refresh))) {
        set_cookie(&cookie);
    }
}

#[cfg(feature = "ssr")]
fn listing<T>(page: i64, slice: crate::domain::page::Slice<T>) -> Listing<T> {
    Listing {
        count: slice.count,
        page: page.max(1),
        items: slice.results,
    }
}

/// Parses an optional id typed into a form ("" is none).
#[cfg(feature = "ssr")]
fn optional_id(field: &str, value: &str) -> Result<Option<i64>, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse()
        .map(Some)
        .map_err(|_| crate::domain::Error::field(field, "Not a valid id.").into())
}

/// The signed-in user, with their unread count and the newest id of their feed (where the page's live feed
/// starts, so nothing committed after the page was rendered is missed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user: User,
    pub unread: i64,
    pub last_id: i64,
}

/// The session of `actor`, as a page starts with it.
#[cfg(feature = "ssr")]
pub async fn load_session(
    db: &sqlx::PgPool,
    actor: &crate::domain::Actor,
) -> crate::domain::Result<Session> {
    use crate::domain::{feed, notifications, users};
    let mark = feed::stable_watermark(db).await?;
    Ok(Session {
        user: users::me(db, actor).await?,
        unread: notifications::unread_count(db, actor).await?.count,
        last_id: notifications::last_visible_id(db, actor, mark).await?,
    })
}

/// Signs in: sets the session cookies, and the language cookie to the user's remembered language.
#[server(prefix = "/_fn", endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<User, ApiError> {
    let b = backend()?;
    let input = crate::models::LoginInput { username, password };
    let response = b
        .gate
        .sign_in(&b.db, &b.hasher, &b.tokens, &caller().ip, input)
        .await?;
    set_session_cookies(&b, &response.access, &response.refresh);
    if let Some(tag) = crate::domain::users::language(&b.db, response.user.id).await? {
        set_cookie(&b.cookies.language(&tag));
    }
    leptos_axum::redirect("/");
    Ok(response.user)
}

/// Creates a client account and signs it in.
#[server(prefix = "/_fn", endpoint = "sign_up")]
pub async fn sign_up(
    username: String,
    password: String,
    full_name: String,
    email: String,
    language: String,
) -> Result<User, ApiError> {
    let b = backend()?;
    let ip = caller().ip;
    let email = Some(email.trim().to_owned()).filter(|e| !e.is_empty());
    let input = crate::models::RegisterInput {
        username,
        password,
        email,
        full_name: Some(full_name),
        phone: None,
    };
    let user = b.gate.sign_up(&b.db, &b.hasher, &ip, input).await?;
    // The password was just set: open the session directly rather than checking it again.
    let pair = crate::domain::auth::start_session(&b.db, &b.tokens, user.id).await?;
    set_session_cookies(&b, &pair.access, &pair.refresh);
    if crate::lang::from_tag(&language).is_some() {
        crate::domain::users::set_language(&b.db, user.id, &language).await?;
    }
    leptos_axum::redirect("/services");
    Ok(user)
}

/// Signs out: ends the session of the refresh cookie and clears the cookies.
#[server(prefix = "/_fn", endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), ApiError> {
    let b = backend()?;
    let refresh = use_context::<axum::http::request::Parts>().and_then(|parts| {
        crate::domain::session::cookie(&parts.headers, crate::domain::session::REFRESH_COOKIE)
            .map(str::to_owned)
    });
    if let Some(refresh) = refresh.filter(|r| !r.is_empty()) {
        // An already ended session is fine: the cookies are cleared either way.
        let _ = crate::domain::auth::logout(&b.db, &refresh).await;
    }
    for cookie in b.cookies.session(None) {
        set_cookie(&cookie);
    }
    leptos_axum::redirect("/signin");
    Ok(())
}

/// Switches the language: remembered in the language cookie, and on the account when signed in. (A form post
/// returns to its page, now rendered in the new language.)
#[server(prefix = "/_fn", endpoint = "set_language")]
pub async fn set_language(language: String) -> Result<(), ApiError> {
    let b = backend()?;
    let Some(locale) = crate::lang::from_tag(&language) else {
        return Err(crate::domain::Error::field("language", "Not a supported language.").into());
    };
    let tag = crate::lang::tag(locale);
    if let Some(actor) = caller().actor {
        crate::domain::users::set_language(&b.db, actor.id, tag).await?;
    }
    set_cookie(&b.cookies.language(tag));
    Ok(())
}

/// The service catalogue: active services; admins may ask for all.
#[server(prefix = "/_fn", endpoint = "services")]
pub async fn services(page: i64, all: bool) -> Result<Listing<Service>, ApiError> {
    let actor = actor()?;
    let active = if all && actor.is_admin() {
        None
    } else {
        Some(true)
    };
    let slice = crate::domain::services::list(&backend()?.db, &actor, active, window(page)).await?;
    Ok(listing(page, slice))
}

/// The catalogue: a page of active services, each with the workers a client may choose from.
#[server(prefix = "/_fn", endpoint = "catalogue")]
pub async fn catalogue(page: i64) -> Result<Listing<Offer>, ApiError> {
    use crate::domain::services;
    let b = backend()?;
    let slice = services::list(&b.db, &actor()?, Some(true), window(page)).await?;
    let ids: Vec<i64> = slice.results.iter().map(|s| s.id).collect();
    let mut workers = services::workers_of(&b.db, &ids).await?;
    let services = listing(page, slice);
    Ok(Listing {
        count: services.count,
        page: services.page,
        items: services
            .items
            .into_iter()
            .map(|service| Offer {
                workers: workers.remove(&service.id).unwrap_or_default(),
                service,
            })
            .collect(),
    })
}

/// A client orders a service, optionally from one of its workers.
#[server(prefix = "/_fn", endpoint = "create_order")]
pub async fn create_order(
    service_id: i64,
    worker_id: String,
    description: String,
) -> Result<Order, ApiError> {
    let b = backend()?;
    let input = crate::models::CreateOrderInput {
        service_id,
        worker_id: optional_id("worker_id", &worker_id)?,
        description: Some(description),
    };
    let order = crate::domain::orders::create(&b.db, b.events.as_ref(), &actor()?, input).await?;
    leptos_axum::redirect(&format!("/orders/{}", order.id));
    Ok(order)
}

/// The orders the caller may see, newest first; optionally one status.
#[server(prefix = "/_fn", endpoint = "orders")]
pub async fn orders(page: i64, status: Option<OrderStatus>) -> Result<Listing<Order>, ApiError> {
    let filter = crate::domain::orders::OrderFilter {
        status,
        ..Default::default()
    };
    let slice =
        crate::domain::orders::list(&backend()?.db, &actor()?, filter, window(page)).await?;
    Ok(listing(page, slice))
}

/// The order page: the order, its timeline and conversation, and what the caller may do.
#[server(prefix = "/_fn", endpoint = "order")]
pub async fn load_order(id: i64) -> Result<OrderView, ApiError> {
    use crate::{
        domain::{messages, orders, page::Window, services, transactions},
        models::status::Party,
    };
    let b = backend()?;
    let actor = actor()?;
    let order = orders::fetch_visible(&b.db, &actor, id).await?;
    let all = Window {
        limit: 100,
        offset: 0,
    };
    let timeline = orders::timeline(&b.db, &actor, id, all).await?.results;
    let mut conversation = messages::list(&b.db, &actor, id, all).await?;
    if conversation.count > 100 {
        let latest = Window {
            limit: 100,
            offset: conversation.count - 100,
        };
        conversation = messages::list(&b.db, &actor, id, latest).await?;
    }
    let next = order.status.next_for(Party::of(actor.role));
    let payable = actor.role == Role::Client && order.status == OrderStatus::Pending;
    let providers = PaymentProvider::ALL
        .iter()
        .copied()
        .filter(|&p| b.payments.enabled(p))
        .collect();
    let workers = if actor.is_admin() {
        services::workers(&b.db, &actor, order.service_id).await?
    } else {
        Vec::new()
    };
    let transactions = if actor.role == Role::Worker {
        Vec::new()
    } else {
        let filter = crate::domain::transactions::TransactionFilter {
            order_id: Some(id),
            ..Default::default()
        };
        transactions::list(&b.db, &actor, filter, all)
            .await?
            .results
    };
    Ok(OrderView {
        order,
        timeline,
        messages: conversation.results,
        next,
        payable,
        providers,
        workers,
        transactions,
    })
}

/// Moves an order along the status machine.
#[server(prefix = "/_fn", endpoint = "change_status")]
pub async fn change_status(id: i64, status: OrderStatus) -> Result<Order, ApiError> {
    let b = backend()?;
    let input = crate::models::ChangeStatusInput { status };
    Ok(
        crate::domain::orders::change_status(&b.db, b.events.as_ref(), &actor()?, id, input)
            .await?,
    )
}

/// An admin assigns a worker to an order.
#[server(prefix = "/_fn", endpoint = "assign")]
pub async fn assign(id: i64, worker_id: i64) -> Result<Order, ApiError> {
    let b = backend()?;
    let input = crate::models::AssignInput { worker_id };
    Ok(crate::domain::orders::assign(&b.db, b.events.as_ref(), &actor()?, id, input).await?)
}

/// Posts to an order's conversation.
#[server(prefix = "/_fn", endpoint = "post_message")]
pub async fn post_message(id: i64, text: String) -> Result<Message, ApiError> {
    let b = backend()?;
    let input = crate::models::PostMessageInput { text };
    Ok(crate::domain::messages::post(&b.db, b.events.as_ref(), &actor()?, id, input).await?)
}

/// Starts paying for an order: the provider's checkout link (and the sandbox's, in the demo).
#[server(prefix = "/_fn", endpoint = "pay")]
pub async fn pay(order_id: i64, provider: PaymentProvider) -> Result<PaymentCheckout, ApiError> {
    let b = backend()?;
    let input = crate::models::CreatePaymentInput { order_id, provider };
    let checkout =
        crate::domain::payments::checkout(&b.db, b.events.as_ref(), &b.payments, &actor()?, input)
            .await?;
    leptos_axum::redirect(
        checkout
            .sandbox_url
            .as_deref()
            .unwrap_or(&checkout.payment_url),
    );
    Ok(checkout)
}

/// The caller's notifications, newest first, filtered.
#[server(prefix = "/_fn", endpoint = "notifications")]
pub async fn notifications(
    page: i64,
    unread: bool,
    kind: Option<NotificationKind>,
    order_id: Option<i64>,
) -> Result<Listing<Notification>, ApiError> {
    let filter = crate::domain::notifications::FeedFilter {
        unread: unread.then_some(true),
        kind,
        order_id,
        after_id: None,
    };
    let slice =
        crate::domain::notifications::feed(&backend()?.db, &actor()?, filter, window(page)).await?;
    Ok(listing(page, slice))
}

/// The caller's unread count.
#[server(prefix = "/_fn", endpoint = "unread", input = Json)]
pub async fn unread() -> Result<i64, ApiError> {
    Ok(
        crate::domain::notifications::unread_count(&backend()?.db, &actor()?)
            .await?
            .count,
    )
}

/// Marks notifications read (all of them when `ids` is empty); returns the ids that changed. Every tab of the
/// user hears of it through its socket.
#[server(prefix = "/_fn", endpoint = "mark_read")]
pub async fn mark_read(#[server(default)] ids: Vec<i64>) -> Result<Vec<i64>, ApiError> {
    let b = backend()?;
    let actor = actor()?;
    let changed = if ids.is_empty() {
        crate::domain::notifications::read_all(&b.db, &actor).await?
    } else {
        crate::domain::notifications::mark_read(&b.db, &actor, &ids).await?
    };
    if !changed.is_empty() {
        b.events.read(actor.id, changed.clone());
    }
    Ok(changed)
}

/// The admin dashboard's figures.
#[server(prefix = "/_fn", endpoint = "dashboard")]
pub async fn dashboard_figures() -> Result<Dashboard, ApiError> {
    Ok(crate::domain::dashboard::get(&backend()?.db, &actor()?).await?)
}

/// Users (admins), optionally of one role.
#[server(prefix = "/_fn", endpoint = "users")]
pub async fn users(page: i64, role: Option<Role>) -> Result<Listing<User>, ApiError> {
    let slice = crate::domain::users::list(&backend()?.db, &actor()?, role, window(page)).await?;
    Ok(listing(page, slice))
}

/// An admin creates a user of any role (a form post returns to its page, naming the new account).
#[server(prefix = "/_fn", endpoint = "create_user")]
pub async fn create_user(
    username: String,
    password: String,
    role: Role,
    full_name: String,
) -> Result<User, ApiError> {
    let b = backend()?;
    let input = crate::models::CreateUserInput {
        username,
        password,
        role,
        email: None,
        full_name: Some(full_name),
        phone: None,
    };
    let user = crate::domain::users::create(&b.db, &b.hasher, &actor()?, input).await?;
    leptos_axum::redirect(&back_to("/admin/users", Some(("created", &user.username))));
    Ok(user)
}

/// An admin deactivates a user: their sessions and sockets end at once.
#[server(prefix = "/_fn", endpoint = "deactivate_user")]
pub async fn deactivate_user(id: i64) -> Result<(), ApiError> {
    let b = backend()?;
    crate::domain::users::deactivate(&b.db, &b.hasher, &actor()?, id).await?;
    b.events.access_changed(id);
    leptos_axum::redirect(&back_to("/admin/users", None));
    Ok(())
}

/// An admin creates a service; the price is typed in so'm.
#[server(prefix = "/_fn", endpoint = "create_service")]
pub async fn create_service(
    name: String,
    description: String,
    price: String,
) -> Result<Service, ApiError> {
    let som: i64 = price.trim().replace([' ', ','], "").parse().map_err(|_| {
        ApiError::from(crate::domain::Error::field(
            "price",
            "Enter a whole number of so'm.",
        ))
    })?;
    let input = crate::models::CreateServiceInput {
        name,
        description,
        price: som.saturating_mul(100),
        is_active: true,
    };
    let service = crate::domain::services::create(&backend()?.db, &actor()?, input).await?;
    leptos_axum::redirect(&back_to("/admin/services", None));
    Ok(service)
}

/// An admin sets which workers do a service (a form post returns to its page, saying it saved).
#[server(prefix = "/_fn", endpoint = "set_service_workers")]
pub async fn set_service_workers(
    id: i64,
    #[server(default)] worker_ids: Vec<i64>,
) -> Result<Vec<UserSummary>, ApiError> {
    let input = crate::models::SetWorkersInput { worker_ids };
    let workers =
        crate::domain::services::set_workers(&backend()?.db, &actor()?, id, input).await?;
    leptos_axum::redirect(&back_to(
        "/admin/services",
        Some(("saved", &id.to_string())),
    ));
    Ok(workers)
}

/// Transactions (admins all, clients their own), filtered.
#[server(prefix = "/_fn", endpoint = "transactions")]
pub async fn transactions(
    page: i64,
    provider: Option<PaymentProvider>,
    status: Option<TransactionStatus>,
) -> Result<Listing<Transaction>, ApiError> {
    let filter = crate::domain::transactions::TransactionFilter {
        order_id: None,
        provider,
        status,
    };
    let slice =
        crate::domain::transactions::list(&backend()?.db, &actor()?, filter, window(page)).await?;
    Ok(listing(page, slice))
}
