//! Every request body is bounded, on every route (the REST API, the server functions' form posts, the sandbox's
//! buttons, pages, whatever the handler does with its body): past [`BODY_LIMIT`] the request is answered 413
//! `payload_too_large` in the envelope, and no more than the limit is ever held in memory. The payment webhooks
//! are the documented exception in form only: the providers take any status but 200 for a failure of ours, so
//! their handlers read at most the limit themselves and answer in the provider's format (a parse error).

use app::domain::Error;
use axum::{
    body::{Body, HttpBody as _},
    extract::Request,
    http::header,
    middleware::Next,
    response::{IntoResponse as _, Response},
};
use futures_util::StreamExt as _;

use super::payments;
use crate::extract::BODY_LIMIT;

/// Refuses a body declared larger than the limit before reading any of it (a body cannot outgrow its declared
/// length: the HTTP layer cuts it off there). A body of unknown length (chunked) is read here, up to the limit,
/// before the handler runs, so it too is refused above the limit, even where the handler would not read it.
pub async fn limit_bodies(request: Request, next: Next) -> Response {
    if payments::WEBHOOKS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if usize::try_from(length).map_or(true, |n| n > BODY_LIMIT) => {
            return too_large();
        }
        Some(_) => return next.run(request).await,
        None if request.body().is_end_stream() => return next.run(request).await,
        None => {}
    }
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            return Error::BadRequest {
                code: "parse_error",
                detail: "Could not read the request body.".to_owned(),
            }
            .into_response();
        };
        if read.len() + chunk.len() > BODY_LIMIT {
            return too_large();
        }
        read.extend_from_slice(&chunk);
    }
    next.run(Request::from_parts(parts, Body::from(read))).await
}

fn too_large() -> Response {
    Error::PayloadTooLarge { limit: BODY_LIMIT }.into_response()
}
