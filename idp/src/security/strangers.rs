//! Bounded work for strangers: a per-address budget (IPv6 by /64, `request::bucket`) in front
//! of everything anyone can ask without an account, checked before the handler reads the
//! database or hashes: `/authorize` (GET and POST) and the unauthenticated POSTs of hosted
//! pages (sign-in, passkey sign-in, recovery, first-login steps; the list is in `routes.rs`).
//! Threat: one address (or one /64) driving database reads, Redis writes, argon2 hashes and
//! mails without limit. The account budgets (`throttle`) still guard each account; this only
//! caps what a single source can make the service do.
//!
//! The answer is 429 with `Retry-After` and a plain Japanese (or English) page, also for
//! `/authorize`: RFC 6749 §4.1.2.1 forbids redirecting to a redirect URI that has not been
//! checked against the client, and checking it is the work being refused, so the person is
//! told directly (as for an invalid client) instead of the relying party receiving
//! `temporarily_unavailable`.

use crate::error::PageError;
use crate::security::request::Requester;
use crate::security::throttle::{Gate, Throttle};
use crate::state::AppState;
pub use crate::texts::security::strangers::*;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kenpo_shared::web::PageLang;

/// Which budget a request draws on, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Authorize,
    Post,
}

/// The budget of `method path`: `/authorize` whatever the method, the listed paths on POST.
pub fn budget(method: &Method, path: &str, posts: &[&str]) -> Option<Budget> {
    if path == "/authorize" {
        Some(Budget::Authorize)
    } else if method == Method::POST && posts.contains(&path) {
        Some(Budget::Post)
    } else {
        None
    }
}

/// Middleware over the hosted pages: refuses a request over its source's budget.
pub async fn limit(
    State((state, posts)): State<(AppState, &'static [&'static str])>,
    PageLang(lang): PageLang,
    requester: Requester,
    req: Request,
    next: Next,
) -> Response {
    let Some(budget) = budget(req.method(), req.uri().path(), posts) else {
        return next.run(req).await;
    };
    let cfg = &state.config.throttle;
    let (key, per_minute) = match budget {
        Budget::Authorize => ("strangers:authz", cfg.authorize_per_minute),
        Budget::Post => ("strangers:post", cfg.stranger_posts_per_minute),
    };
    let gate = Throttle::new(&state.eph, cfg)
        .limit(
            &format!("{key}:{}", requester.bucket()),
            per_minute,
            60,
            state.now(),
        )
        .await;
    match gate {
        Ok(Gate::Open) => next.run(req).await,
        Ok(Gate::Wait(wait)) => {
            let mut res = crate::pages::error_page(
                StatusCode::TOO_MANY_REQUESTS,
                lang,
                TITLE.get(lang),
                BODY.get(lang),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            res
        }
        Err(e) => PageError::internal(lang, e).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_and_listed_posts_draw_on_a_budget() {
        let posts = ["/login", "/recovery/password"];
        assert_eq!(
            budget(&Method::GET, "/authorize", &posts),
            Some(Budget::Authorize)
        );
        assert_eq!(
            budget(&Method::POST, "/authorize", &posts),
            Some(Budget::Authorize)
        );
        assert_eq!(budget(&Method::POST, "/login", &posts), Some(Budget::Post));
        assert_eq!(
            budget(&Method::GET, "/login", &posts),
            None,
            "showing a form is cheap"
        );
        assert_eq!(budget(&Method::POST, "/account/password", &posts), None);
    }
}
