//! Sign in and sign up (clients); signing out is in the top bar. The forms post to server functions, which
//! answer with the next page (or this one again, with the server's errors under the fields); every part of it,
//! its language included, follows the new session.

use leptos::prelude::*;

use crate::{
    api::{Login as SignInFn, Register as SignUpFn},
    lang,
    ui::{
        locale,
        widgets::{FieldError, FormError},
    },
};

#[component]
pub fn SignIn() -> impl IntoView {
    let action = ServerAction::<SignInFn>::new();
    let error = Signal::derive(move || action.value().get().and_then(Result::err));
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
