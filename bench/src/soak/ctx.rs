//! What every task of the soak shares: the HTTP client and both instances' addresses, the tally of every answer,
//! and the signal that ends the sockets; and the API requests sent through it, once or retried.

use std::{
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::Duration,
};

use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;

/// How many times a request is tried while a dependency restarts.
const ATTEMPTS: usize = 40;
/// The pause after each failed attempt.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// Every HTTP answer's status, counted.
#[derive(Default)]
pub struct Tally {
    /// Requests sent.
    pub requests: AtomicU64,
    /// Answers 503 (a dependency unavailable: allowed while one restarts).
    pub unavailable: AtomicU64,
    /// Answers 5xx other than 503: each is a failure.
    pub server_errors: AtomicU64,
    /// Requests that found no server (an instance not answering while a dependency restarts).
    pub failed_connections: AtomicU64,
    /// What each 5xx other than 503 was.
    pub errors: Mutex<Vec<String>>,
}

/// The run's shared context.
pub struct Ctx {
    /// The client every request goes through.
    pub http: reqwest::Client,
    /// The two instances' base URLs.
    pub bases: [String; 2],
    /// Every answer so far.
    pub tally: Tally,
    /// Set once the load is over: the sockets then end after a quiet spell.
    pub stop: AtomicBool,
}

/// An API request, sent to one instance or the other.
#[derive(Clone)]
pub struct Request<'a> {
    method: Method,
    path: String,
    token: Option<&'a str>,
    body: Option<Value>,
}

impl<'a> Request<'a> {
    fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            token: None,
            body: None,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path`.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// `PUT path`.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// `PATCH path`.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// Sent as the user of this access token.
    pub fn bearer(self, token: &'a str) -> Self {
        Self {
            token: Some(token),
            ..self
        }
    }

    /// With this JSON body.
    pub fn json(self, body: Value) -> Self {
        Self {
            body: Some(body),
            ..self
        }
    }
}

impl Ctx {
    /// The base URL of instance `i` (modulo two: consecutive requests alternate).
    pub fn base(&self, i: usize) -> &str {
        &self.bases[i % 2]
    }

    /// One request; counts its status. `None` when there was no usable answer (connection refused, 503).
    pub async fn call(&self, request: reqwest::RequestBuilder, what: &str) -> Option<(u16, Value)> {
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let Ok(response) = request.send().await else {
            self.tally
                .failed_connections
                .fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == 503 {
            self.tally.unavailable.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if status >= 500 {
            self.tally.server_errors.fetch_add(1, Ordering::Relaxed);
            self.tally
                .errors
                .lock()
                .await
                .push(format!("{what}: {status} {body}"));
            return None;
        }
        Some((status, body))
    }

    /// Sends `request` to instance `i`, once: its status and JSON body, if it had a usable answer.
    pub async fn send(&self, i: usize, request: &Request<'_>) -> Option<(u16, Value)> {
        let Request {
            method,
            path,
            token,
            body,
        } = request;
        let mut builder = self
            .http
            .request(method.clone(), format!("{}{path}", self.base(i)));
        if let Some(token) = token {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = body {
            builder = builder.json(body);
        }
        self.call(builder, &format!("{method} {path}")).await
    }

    /// Sends `request` the way a client does while a dependency restarts: again, alternating instances, until
    /// it has a usable answer.
    pub async fn send_retrying(&self, i: usize, request: &Request<'_>) -> Option<(u16, Value)> {
        retrying(|attempt| self.send(i + attempt, request)).await
    }
}

/// Makes attempt 0, 1, … (at most 40, a quarter of a second apart) until one gives an answer, as a client or a
/// payment provider does while a dependency restarts.
pub async fn retrying<T, F>(mut attempt: impl FnMut(usize) -> F) -> Option<T>
where
    F: Future<Output = Option<T>>,
{
    for n in 0..ATTEMPTS {
        if let Some(answer) = attempt(n).await {
            return Some(answer);
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
    None
}
