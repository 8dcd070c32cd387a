//! Bearer-token access: writes always need the token, reads only when the
//! listener is reachable from other hosts. Tokens are compared in constant
//! time, so response timing says nothing about how much of a guess was right.

use crate::AdminState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

pub(crate) async fn guard(State(state): State<AdminState>, req: Request, next: Next) -> Result<Response, ApiError> {
    let path = req.uri().path();
    let write = !matches!(*req.method(), Method::GET | Method::HEAD) && path != "/api/v1/explain";
    let probe = path == "/healthz" || path == "/readyz";
    if probe || !(write || state.protect_reads) {
        return Ok(next.run(req).await);
    }
    let Some(token) = state.token.as_deref() else {
        return Err(ApiError::Forbidden("no admin token is configured: writes are disabled"));
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        // The scheme is case-insensitive (RFC 9110 §11.1).
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()));
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => Ok(next.run(req).await),
        Some(_) => Err(ApiError::Unauthorized("wrong token")),
        None => Err(ApiError::Unauthorized("missing `Authorization: Bearer <token>`")),
    }
}

/// Equal length and bytes, in time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-tokem", b"secret-token"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
