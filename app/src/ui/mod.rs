//! The browser app: pages rendered on the server in the reader's language, hydrated in the browser, fed live
//! by the notification socket.

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
mod widgets;

use leptos::prelude::*;
use leptos_i18n::Locale as _;
use leptos_meta::{HashedStylesheet, MetaTags, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{A, Route, Router, Routes},
    path,
};

use crate::{
    api::{self, Session},
    i18n::{I18nContextProvider, Locale, use_i18n},
    lang,
    models::Role,
};
pub use live::Live;

/// The page's language.
pub fn locale() -> Locale {
    use_i18n().get_locale_untracked()
}

/// Where the server finds the reader's language: the language cookie (set by the switcher and at sign-in from
/// the account), else `Accept-Language`. (The browser reads it back from `<html lang>`.)
fn language_source() -> leptos_use::UseLocalesOptions {
    leptos_use::UseLocalesOptions::default().ssr_lang_header_getter(|| {
        #[cfg(feature = "ssr")]
        {
            let parts = use_context::<axum::http::request::Parts>()?;
            let chosen = crate::domain::session::cookie(
                &parts.headers,
                crate::domain::session::LANGUAGE_COOKIE,
            )
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

/// The HTML document around the app, rendered on the server.
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
                <SessionData />
                <HydrationScripts options />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The id of the `<script>` carrying the page's session to the browser.
const SESSION_SCRIPT: &str = "task-session";

/// The signed-in user's session as the pages see it, fixed for the page's lifetime (signing in or out reloads
/// the page; the unread count then lives in [`Live`]). The server resolves it before rendering and sends it in
/// the page's head; the browser reads it from there — so no page waits on it, and it is never fetched twice.
#[derive(Clone, Copy)]
pub struct SessionCtx(StoredValue<Option<Session>>);

impl SessionCtx {
    /// The session of this page load: from the request on the server, from the page's head in the browser.
    fn load() -> Self {
        #[cfg(feature = "ssr")]
        let session = request_session();
        #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
        let session = document()
            .get_element_by_id(SESSION_SCRIPT)
            .and_then(|el| el.text_content())
            .and_then(|text| serde_json::from_str::<Option<Session>>(&text).ok())
            .flatten();
        #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
        let session = None;
        Self(StoredValue::new(session))
    }

    /// The session, if signed in.
    pub fn get(&self) -> Option<Session> {
        self.0.get_value()
    }

    /// The signed-in user's role.
    pub fn role(&self) -> Option<Role> {
        self.0.with_value(|s| s.as_ref().map(|s| s.user.role))
    }
}

/// The session the server resolved for this page request (see `server/src/http/web.rs`).
#[cfg(feature = "ssr")]
fn request_session() -> Option<Session> {
    use_context::<axum::http::request::Parts>()?
        .extensions
        .get::<api::Caller>()?
        .session
        .clone()
}

/// The session as JSON in the page's head, for the browser (server-rendered only).
#[component]
fn SessionData() -> impl IntoView {
    #[cfg(feature = "ssr")]
    let json = {
        // `</` cannot end the script early once escaped.
        serde_json::to_string(&request_session())
            .unwrap_or_else(|_| "null".to_owned())
            .replace("</", "<\\/")
    };
    #[cfg(not(feature = "ssr"))]
    let json = String::new();
    view! { <script id=SESSION_SCRIPT type="application/json" inner_html=json></script> }
}

/// The root component: languages, session, live feed, layout and routes.
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
    let live = Live::new();
    provide_context(live);
    // A signed-in page opens its live feed (effects run in the browser only).
    Effect::new(move |_| {
        if let Some(s) = session.get() {
            live.start(s.unread, s.last_id);
        }
    });
    view! {
        <Router>
            <a class="skip" href="#main">{tr!(nav.skip)}</a>
            <Nav />
            <main id="main" tabindex="-1">
                // Every page waits for its data on the server and is sent complete (`SsrMode::Async`), so it reads
                // the same with JavaScript off, and hydration starts from finished HTML.
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
                </Routes>
            </main>
            <live::Toasts />
        </Router>
    }
}

/// The top bar: the pages of the signed-in role, the unread badge, the connection indicator, the language
/// switcher and the session.
#[component]
fn Nav() -> impl IntoView {
    let session = expect_context::<SessionCtx>();
    let live = expect_context::<Live>();
    // The live count once the feed runs; the session's (server-rendered) count before.
    let unread = move || {
        live.unread
            .get()
            .unwrap_or_else(|| session.get().map_or(0, |s| s.unread))
    };
    let links = {
        let role = session.role();
        view! {
            {role.is_some().then(|| view! {
                <li><A href="/orders">{tr!(nav.orders)}</A></li>
            })}
            {(role == Some(Role::Client)).then(|| view! {
                <li><A href="/services">{tr!(nav.services)}</A></li>
            })}
            {(role == Some(Role::Admin)).then(|| view! {
                <li><A href="/admin">{tr!(nav.dashboard)}</A></li>
                <li><A href="/admin/users">{tr!(nav.users)}</A></li>
                <li><A href="/admin/services">{tr!(nav.services)}</A></li>
                <li><A href="/admin/transactions">{tr!(nav.transactions)}</A></li>
            })}
            {role.is_some().then(|| view! {
                <li>
                    <A href="/notifications" attr:class="bell">
                        {tr!(nav.notifications)}
                        <span
                            id="unread-badge"
                            class="badge"
                            class:hidden=move || unread() == 0
                            aria-live="polite"
                            aria-label=tr!(nav.unread)
                        >
                            {unread}
                        </span>
                    </A>
                </li>
            })}
        }
    };
    let account = move || match session.get() {
        Some(s) => view! {
            <span class="who" title=s.user.username>
                <span id="conn" class=move || format!("conn {}", live.state.get().css())
                    title=move || live.state.get().label(locale())
                    aria-label=move || live.state.get().label(locale())></span>
                {s.user.full_name.clone()} " · " {lang::role(locale(), s.user.role)}
            </span>
            <auth::SignOut />
        }
        .into_any(),
        None => view! {
            <A href="/signin">{tr!(nav.sign_in)}</A>
            <A href="/signup" attr:class="button">{tr!(nav.sign_up)}</A>
        }
        .into_any(),
    };
    view! {
        <header class="top">
            <nav aria-label=tr!(nav.main)>
                <A href="/" attr:class="brand">"Task"</A>
                <ul class="links">{links}</ul>
                <div class="account">
                    <LanguageSwitch />
                    {account}
                </div>
            </nav>
        </header>
    }
}

/// Switches the language: remembered in the cookie (and on the account when signed in), then the page is
/// rendered again by the server in the new language.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let current = locale();
    let switch = Action::new_local(|tag: &String| {
        let tag = tag.clone();
        async move {
            #[cfg(feature = "hydrate")]
            {
                use wasm_bindgen::JsCast as _;
                if let Some(doc) = document().dyn_ref::<web_sys::HtmlDocument>() {
                    let _ = doc.set_cookie(&format!(
                        "{}={tag}; Path=/; Max-Age=31536000; SameSite=Lax",
                        "i18n_pref_locale"
                    ));
                }
                let _ = api::set_language(tag).await;
                let _ = window().location().reload();
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = tag;
        }
    });
    view! {
        <label class="lang">
            <span class="sr-only">{tr!(nav.language)}</span>
            <select
                id="language"
                on:change=move |ev| {
                    let tag = event_target_value(&ev);
                    if lang::from_tag(&tag).is_some() {
                        switch.dispatch_local(tag);
                    }
                }
            >
                {Locale::get_all()
                    .iter()
                    .map(|&l| {
                        view! {
                            <option value=lang::tag(l) selected=l == current>
                                {lang::native_name(l)}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </label>
    }
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
                    <A href="/signin" attr:class="button">
                        {tr!(nav.sign_in)}
                    </A>
                </p>
            </section>
        }
        .into_any(),
    }
}
