//! Sign in, sign up (clients) and sign out. The forms post to server functions, so they also work before the
//! WASM has loaded; once signed in or out the page reloads, so every part of it (and its language) follows.

use leptos::prelude::*;

use crate::{
    api::{SignIn as SignInFn, SignOut as SignOutFn, SignUp as SignUpFn},
    lang,
    ui::{
        locale,
        widgets::{FieldError, FormError},
    },
};

/// Leaves the page for `to` with a full load (the server renders it for the new session and language).
fn reload_to(to: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(to);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = to;
}

#[component]
pub fn SignIn() -> impl IntoView {
    let action = ServerAction::<SignInFn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            reload_to("/");
        }
    });
    view! {
        <section class="card narrow">
            <h1>{tr!(auth.sign_in_title)}</h1>
            <ActionForm action=action attr:class="form" attr:id="signin-form">
                <label>
                    {tr!(auth.username)}
                    <input name="username" autocomplete="username" required maxlength="150" />
                </label>
                <FieldError error field="username" />
                <label>
                    {tr!(auth.password)}
                    <input name="password" type="password" autocomplete="current-password" required />
                </label>
                <FieldError error field="password" />
                <FormError error />
                <button type="submit" disabled=move || action.pending().get()>
                    {tr!(auth.sign_in)}
                </button>
            </ActionForm>
            <p>{tr!(auth.no_account)} " " <a href="/signup">{tr!(nav.sign_up)}</a></p>
        </section>
    }
}

#[component]
pub fn SignUp() -> impl IntoView {
    let action = ServerAction::<SignUpFn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            reload_to("/services");
        }
    });
    view! {
        <section class="card narrow">
            <h1>{tr!(auth.sign_up_title)}</h1>
            <p class="hint">{tr!(auth.sign_up_hint)}</p>
            <ActionForm action=action attr:class="form" attr:id="signup-form">
                <label>
                    {tr!(auth.full_name)}
                    <input name="full_name" autocomplete="name" required maxlength="150" />
                </label>
                <FieldError error field="full_name" />
                <label>
                    {tr!(auth.username)}
                    <input name="username" autocomplete="username" required minlength="3" maxlength="150"
                        pattern="[A-Za-z0-9_.@+\\-]+" />
                </label>
                <FieldError error field="username" />
                <label>
                    {tr!(auth.email)} " " <small>{tr!(common.optional)}</small>
                    <input name="email" type="email" autocomplete="email" />
                </label>
                <FieldError error field="email" />
                <label>
                    {tr!(auth.password)}
                    <input name="password" type="password" autocomplete="new-password" required minlength="8" />
                </label>
                <p class="hint">{tr!(auth.password_hint)}</p>
                <FieldError error field="password" />
                <input type="hidden" name="language" value=lang::tag(locale()) />
                <FormError error=Signal::derive(move || error.get().filter(|e| e.errors.is_empty())) />
                <button type="submit" disabled=move || action.pending().get()>
                    {tr!(auth.create_account)}
                </button>
            </ActionForm>
            <p>{tr!(auth.have_account)} " " <a href="/signin">{tr!(nav.sign_in)}</a></p>
        </section>
    }
}

/// The sign-out button (a form, so it works without the WASM too).
#[component]
pub fn SignOut() -> impl IntoView {
    let action = ServerAction::<SignOutFn>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = action.value().get() {
            reload_to("/signin");
        }
    });
    view! {
        <ActionForm action=action attr:class="inline">
            <button type="submit" class="link" id="sign-out"
                title=tr!(nav.sign_out)>
                {tr!(nav.sign_out)}
            </button>
        </ActionForm>
    }
}
