//! Signing in and up, signing out and the UI language: server functions over [`crate::domain::auth`].

use leptos::prelude::*;

use super::ApiError;
use crate::models::User;
#[cfg(feature = "ssr")]
use {
    super::web::{
        REFRESH_COOKIE, caller, context, cookies, request_cookie, set_cookie, set_session_cookies,
    },
    crate::domain::{Error, auth, users},
};

/// Signs in: sets the session cookies, and the language cookie to the user's remembered language.
#[server(prefix = "/_fn", endpoint = "login")]
pub async fn login(username: String, password: String) -> Result<User, ApiError> {
    let (ctx, cookies) = (context()?, cookies()?);
    let input = crate::models::LoginInput { username, password };
    let auth::BrowserSignIn { response, language } =
        auth::login_in_browser(&ctx, &caller().ip, input).await?;
    set_session_cookies(&cookies, Some((&response.access, &response.refresh)));
    if let Some(tag) = language {
        set_cookie(&cookies.language(&tag));
    }
    leptos_axum::redirect("/");
    Ok(response.user)
}

/// Creates a client account and signs it in.
#[server(prefix = "/_fn", endpoint = "register")]
pub async fn register(
    username: String,
    password: String,
    full_name: String,
    email: String,
    language: String,
) -> Result<User, ApiError> {
    let (ctx, cookies) = (context()?, cookies()?);
    let input = crate::models::RegisterInput {
        username,
        password,
        email: Some(email),
        full_name: Some(full_name),
        phone: None,
    };
    let (user, pair) = auth::register_in_browser(&ctx, &caller().ip, input, &language).await?;
    set_session_cookies(&cookies, Some((&pair.access, &pair.refresh)));
    leptos_axum::redirect("/services");
    Ok(user)
}

/// Signs out: ends the session of the refresh cookie and clears the cookies.
#[server(prefix = "/_fn", endpoint = "logout")]
pub async fn logout() -> Result<(), ApiError> {
    let (ctx, cookies) = (context()?, cookies()?);
    if let Some(refresh) = request_cookie(REFRESH_COOKIE).filter(|r| !r.is_empty()) {
        // An already ended session is fine: the cookies are cleared either way.
        let _ = auth::logout(&ctx, &refresh).await;
    }
    set_session_cookies(&cookies, None);
    leptos_axum::redirect("/signin");
    Ok(())
}

/// Switches the language: remembered in the language cookie, and on the account when signed in. (A form post
/// returns to its page, now rendered in the new language.)
#[server(prefix = "/_fn", endpoint = "update_language")]
pub async fn update_language(language: String) -> Result<(), ApiError> {
    let (ctx, cookies) = (context()?, cookies()?);
    let Some(locale) = crate::lang::from_tag(&language) else {
        return Err(Error::field("language", "Not a supported language.").into());
    };
    let tag = crate::lang::tag(locale);
    if let Some(actor) = caller().actor {
        users::set_language(&ctx, actor.id, tag).await?;
    }
    set_cookie(&cookies.language(tag));
    Ok(())
}
