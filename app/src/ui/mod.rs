//! The browser app: pages rendered on the server in the reader's language, as plain HTML whose links and forms
//! work without any script; one island ([`live::TopBar`]) hydrates in the browser and keeps the page live
//! through the notification socket.

/// A UI text in the page's language, as a plain string. A page is rendered in one language (switching the
/// language reloads it, from the server, in the new one), so texts need no reactive views — which keeps the
/// WASM small.
macro_rules! tr {
    ($($key:tt)+) => {
        $crate::i18n::td_string!($crate::ui::locale(), $($key)+)
    };
}

mod admin;
mod auth;
mod live;
mod notifications;
mod orders;
mod settings;
mod widgets;

use leptos::prelude::*;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

#[cfg(feature = "ssr")]
use crate::i18n::use_i18n;
use crate::{
    api,
    i18n::{I18nContextProvider, Locale},
    lang,
    models::{Role, Session},
};

/// The page's language: on the server, the one the request asked for (see [`language_source`]); in the
/// browser, the one the server rendered the page in (`<html lang>`), so an island's texts match its HTML.
pub fn locale() -> Locale {
    #[cfg(feature = "ssr")]
    {
        use_i18n().get_locale_untracked()
    }
    #[cfg(not(feature = "ssr"))]
    {
        document()
            .document_element()
            .and_then(|html| html.get_attribute("lang"))
            .and_then(|tag| lang::from_tag(&tag))
            .unwrap_or_default()
    }
}

/// Where the server finds the reader's language: the language cookie (set by the switcher and at sign-in from
/// the account), else `Accept-Language`. (The browser reads it back from `<html lang>`.)
fn language_source() -> leptos_use::UseLocalesOptions {
    leptos_use::UseLocalesOptions::default().ssr_lang_header_getter(|| {
        #[cfg(feature = "ssr")]
        {
            let parts = use_context::<axum::http::request::Parts>()?;
            let chosen = crate::api::web::cookie(&parts.headers, crate::api::web::LANGUAGE_COOKIE)
                .filter(|tag| lang::from_tag(tag).is_some());
            chosen.map(str::to_owned).or_else(|| {
                parts
                    .headers
                    .get(axum::http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
        }
        #[cfg(not(feature = "ssr"))]
        None
    })
}

/// The HTML document around the app, rendered on the server. Pages are plain server-rendered HTML (links and
/// forms that work before, and without, any script); the WASM hydrates only the islands (see [`live::TopBar`]).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <AutoReload options=options.clone() />
                <HashedStylesheet options=options.clone() id="leptos" />
                <HydrationScripts options islands=true />
                // The page's Content-Security-Policy runs inline scripts only with the response's nonce.
                <script nonce=use_nonce() inner_html=FORMS_SCRIPT></script>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="manifest" href="/manifest.webmanifest" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// See the shell: plain forms posted once, given back what was typed when they come back with an error, and the
/// language switcher sent on change (the policy allows no inline event handlers).
const FORMS_SCRIPT: &str = include_str!("forms.js");

/// The signed-in user's session as the pages see it: resolved by the server before rendering (see
/// `server/src/http/web.rs`), fixed for the page's lifetime (signing in or out loads a new page).
#[derive(Clone, Copy)]
pub struct SessionCtx(StoredValue<Option<Session>>);

impl SessionCtx {
    /// The session of this page request.
    fn load() -> Self {
        #[cfg(feature = "ssr")]
        let session = use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<api::web::Caller>()?.session.clone());
        #[cfg(not(feature = "ssr"))]
        let session = None;
        Self(StoredValue::new(session))
    }

    /// The session, if signed in.
    pub fn get(&self) -> Option<Session> {
        self.0.get_value()
    }
}

/// The root component: languages, session, layout and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Task" />
        <I18nContextProvider ssr_lang_header_getter=language_source()>
            <Layout />
        </I18nContextProvider>
    }
}

#[component]
fn Layout() -> impl IntoView {
    let session = SessionCtx::load();
    provide_context(session);
    let who = session.get().map(|s| live::Who {
        id: s.user.id,
        name: s.user.full_name,
        username: s.user.username,
        role: s.user.role,
        unread: s.unread,
        last_id: s.last_id,
    });
    let sandbox = sandbox_on().then(|| {
        view! { <p class="sandbox-banner" role="note">{tr!(common.sandbox)}</p> }
    });
    view! {
        <Router>
            <a class="skip" href="#main">{tr!(nav.skip)}</a>
            {sandbox}
            <live::TopBar who here=current_path() />
            <main id="main" tabindex="-1">
                // Every page waits for its data on the server and is sent complete (`SsrMode::Async`), so it reads
                // the same with JavaScript off. Their live parts follow the socket's frames in the browser (see
                // `live.rs`).
                <Routes fallback=|| view! { <widgets::NotFound /> }>
                    <Route path=path!("/") view=orders::Home ssr=SsrMode::Async />
                    <Route path=path!("/signin") view=auth::SignIn ssr=SsrMode::Async />
                    <Route path=path!("/signup") view=auth::SignUp ssr=SsrMode::Async />
                    <Route path=path!("/services") view=orders::Catalogue ssr=SsrMode::Async />
                    <Route path=path!("/orders") view=orders::OrderList ssr=SsrMode::Async />
                    <Route path=path!("/orders/:id") view=orders::OrderPage ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view=notifications::NotificationsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=admin::Dashboard ssr=SsrMode::Async />
                    <Route path=path!("/admin/users") view=admin::Users ssr=SsrMode::Async />
                    <Route path=path!("/admin/services") view=admin::Services ssr=SsrMode::Async />
                    <Route path=path!("/admin/transactions") view=admin::Transactions ssr=SsrMode::Async />
                    <Route path=path!("/admin/deliveries") view=settings::DeliveriesPage ssr=SsrMode::Async />
                    <Route path=path!("/settings") view=settings::SettingsPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}

/// Whether the built-in payment gateway sandbox is on: every page then says so, so nobody mistakes the deployment
/// for one that takes money.
fn sandbox_on() -> bool {
    #[cfg(feature = "ssr")]
    {
        use_context::<crate::domain::Context>().is_some_and(|ctx| ctx.payments.sandbox)
    }
    #[cfg(not(feature = "ssr"))]
    false
}

/// The requested page's path (for the nav's `aria-current`).
fn current_path() -> String {
    #[cfg(feature = "ssr")]
    {
        use_context::<axum::http::request::Parts>()
            .map(|parts| parts.uri.path().to_owned())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "ssr"))]
    String::new()
}

/// Renders `signed_in` for a signed-in user (of one of `roles`, when given), a sign-in prompt otherwise.
#[component]
pub fn Guard<F, V>(#[prop(optional)] roles: &'static [Role], view: F) -> impl IntoView
where
    F: Fn(Session) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let session = expect_context::<SessionCtx>();
    match session.get() {
        Some(s) if roles.is_empty() || roles.contains(&s.user.role) => view(s).into_any(),
        Some(_) => {
            let error = api::ApiError {
                status: 403,
                code: "permission_denied".to_owned(),
                detail: String::new(),
                errors: Default::default(),
            };
            view! { <widgets::ErrorBox error /> }.into_any()
        }
        None => view! {
            <section class="card narrow">
                <h1>{tr!(auth.needed)}</h1>
                <p>
                    <a href="/signin" class="button">
                        {tr!(nav.sign_in)}
                    </a>
                </p>
            </section>
        }
        .into_any(),
    }
}
