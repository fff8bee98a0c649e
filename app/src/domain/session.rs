//! Browser sessions and sign-in, shared by the REST API and the UI's server functions: the rate-limited sign-in
//! and sign-up, and the `Set-Cookie` values that carry a token pair (`HttpOnly`, `SameSite=Lax`).

use std::time::Duration;

use sqlx::PgPool;

use super::{Result, auth, password::Hasher, ratelimit::RateLimiter, users};
use crate::models::{LoginInput, LoginResponse, RegisterInput, User};

/// The cookie carrying the access token (sent with every request of the site).
pub const ACCESS_COOKIE: &str = "task_access";
/// The cookie carrying the refresh token.
pub const REFRESH_COOKIE: &str = "task_refresh";
/// The cookie remembering the UI language (the one `leptos_i18n` reads and writes).
pub const LANGUAGE_COOKIE: &str = "i18n_pref_locale";

/// The rate limits on sign-in and sign-up, per address (and per username for sign-in).
#[derive(Clone)]
pub struct Gate {
    pub limiter: RateLimiter,
    /// Sign-in attempts per minute, per address and per username.
    pub login_per_minute: u32,
    /// Sign-ups per hour, per address.
    pub register_per_hour: u32,
}

impl Gate {
    /// Signs in: checks the limits, then the credentials.
    pub async fn sign_in(
        &self,
        db: &PgPool,
        hasher: &Hasher,
        tokens: &auth::Tokens,
        ip: &str,
        input: LoginInput,
    ) -> Result<LoginResponse> {
        let minute = Duration::from_secs(60);
        let limit = self.login_per_minute;
        self.limiter
            .hit(&format!("login:ip:{ip}"), limit, minute)
            .await?;
        self.limiter
            .hit(
                &format!("login:user:{}", input.username.trim().to_lowercase()),
                limit,
                minute,
            )
            .await?;
        auth::login(db, hasher, tokens, input).await
    }

    /// Creates a client account (never any other role).
    pub async fn sign_up(
        &self,
        db: &PgPool,
        hasher: &Hasher,
        ip: &str,
        input: RegisterInput,
    ) -> Result<User> {
        self.limiter
            .hit(
                &format!("register:{ip}"),
                self.register_per_hour,
                Duration::from_secs(3600),
            )
            .await?;
        users::register(db, hasher, input).await
    }
}

/// How session cookies are written.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    /// Adds `Secure` (behind HTTPS).
    pub secure: bool,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

impl CookiePolicy {
    /// The two `Set-Cookie` values for a token pair, or (with `None`) the two that clear them.
    pub fn session(&self, pair: Option<(&str, &str)>) -> [String; 2] {
        let (access, refresh, access_age, refresh_age) = match pair {
            Some((a, r)) => (a, r, self.access_ttl.as_secs(), self.refresh_ttl.as_secs()),
            None => ("", "", 0, 0),
        };
        [
            self.cookie(ACCESS_COOKIE, access, access_age, true),
            self.cookie(REFRESH_COOKIE, refresh, refresh_age, true),
        ]
    }

    /// The `Set-Cookie` value remembering the UI language for a year (readable by the page's script, which
    /// switches it).
    pub fn language(&self, tag: &str) -> String {
        self.cookie(LANGUAGE_COOKIE, tag, 365 * 24 * 3600, false)
    }

    fn cookie(&self, name: &str, value: &str, max_age: u64, http_only: bool) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        let http_only = if http_only { "; HttpOnly" } else { "" };
        format!("{name}={value}; Path=/; Max-Age={max_age}{http_only}; SameSite=Lax{secure}")
    }
}

/// The parameters by which a page's address carries a failed form post's error back to it (Leptos's form
/// redirects: the error, and the server function it came from).
pub const FORM_ERROR_PARAMS: [&str; 2] = ["__err", "__path"];

/// A page's address, `path` with its `query` less the parameters `drop` names, plus `add` if given.
pub fn address(
    path: &str,
    query: &str,
    drop: impl Fn(&str) -> bool,
    add: Option<(&str, &str)>,
) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if !drop(&k) {
            out.append_pair(&k, &v);
        }
    }
    if let Some((k, v)) = add {
        out.append_pair(k, v);
    }
    match out.finish() {
        query if query.is_empty() => path.to_owned(),
        query => format!("{path}?{query}"),
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_cookies_are_http_only_lax_and_cleared_with_zero_age() {
        let policy = CookiePolicy {
            secure: true,
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
        };
        let [access, refresh] = policy.session(Some(("a.b.c", "r1")));
        assert_eq!(
            access,
            "task_access=a.b.c; Path=/; Max-Age=900; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            refresh,
            "task_refresh=r1; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax; Secure"
        );
        let [access, _] = policy.session(None);
        assert_eq!(
            access,
            "task_access=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            policy.language("uz"),
            "i18n_pref_locale=uz; Path=/; Max-Age=31536000; SameSite=Lax; Secure"
        );
    }
}
