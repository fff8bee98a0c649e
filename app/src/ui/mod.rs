//! The browser app: pages rendered on the server in the reader's language, hydrated in the browser, fed live
//! by the notification socket.

mod admin;
mod auth;
mod live;
mod notifications;
mod orders;
mod widgets;

use leptos::prelude::*;
use leptos_i18n::Locale as _;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    components::{A, Route, Router, Routes},
    path,
};

use crate::{
    api::{self, Session},
    i18n::{I18nContextProvider, Locale, t, td_string, use_i18n},
    lang,
    models::Role,
};
pub use live::Live;

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

/// The signed-in user's session as the pages see it: loaded once per page load (on the server for the first
/// render), `None` when signed out.
#[derive(Clone, Copy)]
pub struct SessionCtx(pub Resource<Result<Option<Session>, api::ApiError>>);

impl SessionCtx {
    /// The session, once loaded (tracked).
    pub fn get(&self) -> Option<Session> {
        self.0.get().and_then(Result::ok).flatten()
    }

    /// The signed-in user's role, once loaded (tracked).
    pub fn role(&self) -> Option<Role> {
        self.get().map(|s| s.user.role)
    }
}

/// The root component: languages, session, live feed, layout and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/task.css" />
        <Title text="Task" />
        <I18nContextProvider>
            <Layout />
        </I18nContextProvider>
    }
}

#[component]
fn Layout() -> impl IntoView {
    let session = SessionCtx(Resource::new(|| (), |()| api::get_session()));
    provide_context(session);
    let live = Live::new();
    provide_context(live);
    // The feed starts once the session is known, in the browser only.
    Effect::new(move |started: Option<bool>| {
        if started == Some(true) {
            return true;
        }
        match session.get() {
            Some(s) => {
                live.start(s.unread, s.last_id);
                true
            }
            None => false,
        }
    });
    view! {
        <Router>
            <a class="skip" href="#main">{t!(use_i18n(), nav.skip)}</a>
            <Nav />
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <widgets::NotFound /> }>
                    <Route path=path!("/") view=orders::Home />
                    <Route path=path!("/signin") view=auth::SignIn />
                    <Route path=path!("/signup") view=auth::SignUp />
                    <Route path=path!("/services") view=orders::Catalogue />
                    <Route path=path!("/orders") view=orders::OrderList />
                    <Route path=path!("/orders/:id") view=orders::OrderPage />
                    <Route path=path!("/notifications") view=notifications::NotificationsPage />
                    <Route path=path!("/admin") view=admin::Dashboard />
                    <Route path=path!("/admin/users") view=admin::Users />
                    <Route path=path!("/admin/services") view=admin::Services />
                    <Route path=path!("/admin/transactions") view=admin::Transactions />
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
    let i18n = use_i18n();
    let session = expect_context::<SessionCtx>();
    let live = expect_context::<Live>();
    // The live count once the feed runs; the session's (server-rendered) count before.
    let unread = move || {
        live.unread
            .get()
            .unwrap_or_else(|| session.get().map_or(0, |s| s.unread))
    };
    let links = move || {
        let role = session.role();
        view! {
            {role.is_some().then(|| view! {
                <li><A href="/orders">{t!(i18n, nav.orders)}</A></li>
            })}
            {(role == Some(Role::Client)).then(|| view! {
                <li><A href="/services">{t!(i18n, nav.services)}</A></li>
            })}
            {(role == Some(Role::Admin)).then(|| view! {
                <li><A href="/admin">{t!(i18n, nav.dashboard)}</A></li>
                <li><A href="/admin/users">{t!(i18n, nav.users)}</A></li>
                <li><A href="/admin/services">{t!(i18n, nav.services)}</A></li>
                <li><A href="/admin/transactions">{t!(i18n, nav.transactions)}</A></li>
            })}
            {role.is_some().then(|| view! {
                <li>
                    <A href="/notifications" attr:class="bell">
                        {t!(i18n, nav.notifications)}
                        <span
                            id="unread-badge"
                            class="badge"
                            class:hidden=move || unread() == 0
                            aria-live="polite"
                            aria-label=move || td_string!(i18n.get_locale(), nav.unread).to_string()
                        >
                            {unread}
                        </span>
                    </A>
                </li>
            })}
        }
    };
    let account = move || {
        match session.get() {
        Some(s) => view! {
            <span class="who" title=s.user.username.clone()>
                <span id="conn" class=move || format!("conn {}", live.state.get().css())
                    title=move || live.state.get().label(i18n.get_locale())
                    aria-label=move || live.state.get().label(i18n.get_locale())></span>
                {s.user.full_name.clone()} " · " {move || lang::role(i18n.get_locale(), s.user.role)}
            </span>
            <auth::SignOut />
        }
        .into_any(),
        None => view! {
            <A href="/signin">{t!(i18n, nav.sign_in)}</A>
            <A href="/signup" attr:class="button">{t!(i18n, nav.sign_up)}</A>
        }
        .into_any(),
    }
    };
    view! {
        <header class="top">
            <nav aria-label=move || td_string!(i18n.get_locale(), nav.main).to_string()>
                <A href="/" attr:class="brand">"Task"</A>
                <ul class="links">
                    <Transition fallback=|| ()>{links}</Transition>
                </ul>
                <div class="account">
                    <LanguageSwitch />
                    <Transition fallback=|| ()>{account}</Transition>
                </div>
            </nav>
        </header>
    }
}

/// Switches the language at once (no reload) and remembers it: in the cookie for everyone, and on the account
/// when signed in.
#[component]
fn LanguageSwitch() -> impl IntoView {
    let i18n = use_i18n();
    let remember = Action::new(|tag: &String| {
        let tag = tag.clone();
        async move { api::set_language(tag).await }
    });
    view! {
        <label class="lang">
            <span class="sr-only">{t!(i18n, nav.language)}</span>
            <select
                id="language"
                on:change=move |ev| {
                    if let Some(locale) = lang::from_tag(&event_target_value(&ev)) {
                        i18n.set_locale(locale);
                        remember.dispatch(lang::tag(locale).to_owned());
                    }
                }
            >
                {Locale::get_all()
                    .iter()
                    .map(|&l| {
                        view! {
                            <option value=lang::tag(l) selected=move || i18n.get_locale() == l>
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
    let i18n = use_i18n();
    let session = expect_context::<SessionCtx>();
    view! {
        <Transition fallback=|| view! { <widgets::Loading /> }>
            {move || {
                session
                    .0
                    .get()
                    .map(|result| match result {
                        Ok(Some(s)) if roles.is_empty() || roles.contains(&s.user.role) => {
                            view(s).into_any()
                        }
                        Ok(Some(_)) => {
                            let error = api::ApiError {
                                status: 403,
                                code: "permission_denied".to_owned(),
                                detail: String::new(),
                                errors: Default::default(),
                            };
                            view! { <widgets::ErrorBox error /> }.into_any()
                        }
                        Ok(None) => {
                            view! {
                                <section class="card narrow">
                                    <h1>{t!(i18n, auth.needed)}</h1>
                                    <p>
                                        <A href="/signin" attr:class="button">
                                            {t!(i18n, nav.sign_in)}
                                        </A>
                                    </p>
                                </section>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <widgets::ErrorBox error=e /> }.into_any(),
                    })
            }}
        </Transition>
    }
}
