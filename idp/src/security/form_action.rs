//! CSP `form-action` for pages inside a relying party's sign-in.
//!
//! Every page is served with `form-action 'self'`, and browsers apply `form-action` not only
//! to where a form is posted but to every redirect that answers it. The last step of a sign-in
//! (a one-time code, an enrolment, the terms, consent…) is a form whose answer is the redirect
//! back to the relying party, so that page must also allow the relying party's origin, or the
//! browser stops the member on the page with the code already spent.
//!
//! States: a page belongs to a sign-in when its request names a live flow (`flow` in the query
//! of a GET, or in the url-encoded form of a POST that re-renders the page). Then this layer
//! adds the flow's registered redirect origin to the page's `form-action`, unless the handler
//! chose the origins itself. Nothing else is widened: pages outside a flow, JSON answers and
//! redirects are left as they are.
//!
//! Threats: an injected form posting the member's input to a foreign origin — still refused,
//! since only the origin of a redirect URI registered by staff for the client of this very
//! flow is added; a forged `flow` value names no live flow and adds nothing.

use crate::oidc::request::AuthRequest;
use crate::signin::flow_key;
use crate::state::AppState;
use crate::store::clients::Client;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use kenpo_shared::web::FormActionOrigins;

fn flow_in(pairs: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(pairs)
        .find(|(k, _)| k == "flow")
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// The layer (see the module doc).
pub async fn allow_flow_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let mut flow = req.uri().query().and_then(|q| flow_in(q.as_bytes()));
    let form = req.method() == Method::POST
        && req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let req = if form && flow.is_none() {
        let (parts, body) = req.into_parts();
        match to_bytes(body, state.config.server.body_limit_bytes).await {
            Ok(bytes) => {
                flow = flow_in(&bytes);
                Request::from_parts(parts, Body::from(bytes))
            }
            // Too large or broken: the handler answers it (the body is gone, so as empty).
            Err(_) => Request::from_parts(parts, Body::empty()),
        }
    } else {
        req
    };
    let mut res = next.run(req).await;
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html || res.extensions().get::<FormActionOrigins>().is_some() {
        return res;
    }
    let Some(flow) = flow else { return res };
    if let Ok(Some(f)) = state.eph.get_json::<AuthRequest>(&flow_key(&flow)).await
        && let Some(origin) = Client::redirect_origin(&f.redirect_uri)
    {
        res.extensions_mut().insert(FormActionOrigins(vec![origin]));
    }
    res
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_flow_is_found_in_a_query_or_a_form() {
        assert_eq!(
            super::flow_in(b"a=1&flow=abc_D-9").as_deref(),
            Some("abc_D-9")
        );
        assert_eq!(super::flow_in(b"csrf=x&otp=123456").as_deref(), None);
        assert_eq!(super::flow_in(b"flow=").as_deref(), None);
        assert_eq!(
            super::flow_in(format!("flow={}", "x".repeat(65)).as_bytes()),
            None
        );
    }
}
