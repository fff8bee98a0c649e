//! The browser app: a server-rendered shell that hydrates. The pages grow in the UI issue.

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    StaticSegment,
    components::{Route, Router, Routes},
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
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

/// The root component: routes to the pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/task.css" />
        <Title text="Task" />
        <Router>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=StaticSegment("") view=HomePage />
                </Routes>
            </main>
        </Router>
    }
}

/// The landing page: what Task is, and a live counter proving the page hydrated.
#[component]
fn HomePage() -> impl IntoView {
    let (clicks, set_clicks) = signal(0);
    view! {
        <h1>"Task"</h1>
        <p>"Order services, follow them live, pay with Payme or Click."</p>
        <p>"The REST API is documented at " <a href="/api/docs">"/api/docs"</a> "."</p>
        <button id="hydration-check" on:click=move |_| set_clicks.update(|n| *n += 1)>
            "Clicked " {clicks} " times"
        </button>
    }
}
