//! HTTP layer of the reference hub: the axum router for `docs/hub-api.md`, bearer auth,
//! the enrollment rate limit, body limits, fault injection, and the mapping of every
//! failure to `{"error": {"code", "message"}}`.
//!
//! Database work runs in `spawn_blocking` behind one mutex; nothing here holds the lock
//! across an `.await`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use chrono::Utc;
use serde_json::Value;
use tokio::sync::Notify;

use super::db::HubDb;
use super::error::HubError;
use super::events::MAX_PEER_LIMIT;
use super::faults::{FaultDice, Faults};
use super::ratelimit::RateLimiter;
use super::validate::{clean_text, parse_upload, BodyError, MAX_NAME_CHARS, MAX_UPLOAD_BODY};
use cubby_core::api::{
    CenterRef, EnrollRequest, EnrollResponse, ErrorBody, Heartbeat, ResultStatus, UploadResponse,
};

/// Longest a peer-events request may be held waiting for an event (v1.1 point 6).
const MAX_WAIT_S: u64 = 30;

/// Largest body of the small requests (enrollment, heartbeat).
const SMALL_BODY_LIMIT: usize = 64 * 1024;

/// Shared by every handler.
pub struct AppState {
    pub db: Mutex<HubDb>,
    pub faults: Faults,
    pub dice: FaultDice,
    /// Enrollment attempts per client address.
    pub enroll_limiter: RateLimiter,
    /// Time a client has to send a whole request body.
    pub body_timeout: Duration,
    /// Woken when an upload stored at least one event, or when the hub stops: held
    /// peer-event requests (long-poll) look again.
    pub events_stored: Notify,
    /// Set when the hub stops: held requests answer at once.
    pub stopping: AtomicBool,
}

/// An error answer: status, snake_case code, human message, optional `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn injected(faults: &Faults, what: &str) -> Self {
        let status = StatusCode::from_u16(faults.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        ApiError {
            status,
            code: "injected_fault",
            message: format!("fault injected by --faults ({what})"),
            retry_after: faults.retry_after,
        }
    }
}

impl From<HubError> for ApiError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::UnknownEnrollCode => {
                ApiError::new(StatusCode::UNAUTHORIZED, "unknown_code", e.to_string())
            }
            HubError::EnrollCodeUsed => {
                ApiError::new(StatusCode::CONFLICT, "code_used", e.to_string())
            }
            HubError::EnrollCodeExpired => {
                ApiError::new(StatusCode::UNAUTHORIZED, "code_expired", e.to_string())
            }
            HubError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            HubError::Invalid(m) => ApiError::bad_request(m),
            other => {
                tracing::error!(error = %other, "hub storage failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the hub could not complete the request",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(ErrorBody::new(self.code, self.message))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Read a request body of at most `limit` bytes within `timeout`: a client that sends its
/// body slowly gets 408 instead of holding a connection.
async fn read_body(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    let read = async move {
        let mut body = body;
        let mut buf: Vec<u8> = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            let frame = frame.map_err(|e| {
                ApiError::bad_request(format!(
                    "request body unreadable: {}",
                    clean_text(&e.to_string())
                ))
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        format!("request body over {limit} bytes"),
                    ));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!("request body not received within {} s", timeout.as_secs()),
        )),
    }
}

/// Run `f` on the database off the async threads.
async fn with_db<T, F>(state: &Arc<AppState>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut HubDb) -> Result<T, HubError> + Send + 'static,
{
    let state = Arc::clone(state);
    let joined = tokio::task::spawn_blocking(move || {
        let mut db = match state.db.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut db)
    })
    .await;
    match joined {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => {
            tracing::error!(error = %e, "hub database task failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the hub could not complete the request",
            ))
        }
    }
}

/// The enrolled, non-revoked device behind the request's bearer token.
pub struct AuthDevice(pub String);

impl FromRequestParts<Arc<AppState>> for AuthDevice {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        match with_db(state, move |db| db.device_for_token(&token)).await? {
            Some(id) => Ok(AuthDevice(id)),
            None => Err(ApiError::unauthorized(
                "unknown or revoked device token: re-provision this device",
            )),
        }
    }
}

/// Delay and random failures, for every endpoint but enrollment.
async fn inject_faults(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let faults = &state.faults;
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if state.dice.roll(faults.fail) {
        return ApiError::injected(faults, "fail").into_response();
    }
    next.run(req).await
}

/// The client's address, when the server recorded it for the connection.
pub struct ClientAddr(pub Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

/// A device name or version fit for the hub's listings and logs.
fn check_label(what: &str, value: &str) -> Result<(), ApiError> {
    if value.chars().count() > MAX_NAME_CHARS || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "{what} must be at most {MAX_NAME_CHARS} characters, without control characters"
        )));
    }
    Ok(())
}

async fn enroll(
    State(state): State<Arc<AppState>>,
    ClientAddr(client): ClientAddr,
    body: Body,
) -> Result<Json<EnrollResponse>, ApiError> {
    if let Some(addr) = client {
        if let Err(refused) = state.enroll_limiter.check(addr.ip(), Instant::now()) {
            let secs = refused.wait.as_secs_f64().ceil().max(1.0) as u64;
            if refused.first {
                tracing::warn!(client = %addr.ip(), "enrollment attempts over the limit");
                let ip = addr.ip().to_string();
                // Once per episode, so a flood cannot fill the audit trail.
                with_db(&state, move |db| {
                    db.audit("enroll_rate_limited", Some(&ip), "attempts over the limit")
                })
                .await?;
            }
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many enrollment attempts from this address; retry in {secs} s"),
            );
            e.retry_after = Some(secs);
            return Err(e);
        }
    }
    let body = read_body(body, SMALL_BODY_LIMIT, state.body_timeout).await?;
    let req: EnrollRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "not an enrollment request: {}",
            clean_text(&e.to_string())
        ))
    })?;
    check_label("name", &req.name)?;
    check_label("version", &req.version)?;
    let client = client.map(|a| a.ip().to_string());
    let resp = with_db(&state, move |db| {
        let enrolled = db.enroll_from(
            &req.code,
            &req.name,
            &req.version,
            client.as_deref(),
            Utc::now(),
        )?;
        let center = db.center()?;
        let key = db.pin_key()?;
        let qr_keys = db.qr_public_keys()?;
        tracing::info!(device = %enrolled.device_id, name = %req.name, "device enrolled");
        Ok(EnrollResponse {
            device_id: enrolled.device_id,
            token: enrolled.token,
            center: CenterRef {
                id: center.id,
                name: center.name,
                timezone: center.timezone,
            },
            pin_key: base64::engine::general_purpose::STANDARD.encode(key),
            qr_keys,
        })
    })
    .await?;
    Ok(Json(resp))
}

async fn roster(
    State(state): State<Arc<AppState>>,
    _device: AuthDevice,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let since = q.get("since").cloned();
    let r = with_db(&state, move |db| db.roster(since.as_deref())).await?;
    Ok(Json(r).into_response())
}

async fn upload(
    State(state): State<Arc<AppState>>,
    AuthDevice(device): AuthDevice,
    body: Body,
) -> Result<Json<UploadResponse>, ApiError> {
    let body = read_body(body, MAX_UPLOAD_BODY, state.body_timeout).await?;
    let events = parse_upload(&body).map_err(|e| match e {
        BodyError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            e.to_string(),
        ),
        BodyError::TooManyEvents(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            e.to_string(),
        ),
        BodyError::NotJson(_) | BodyError::NotABatch => ApiError::bad_request(e.to_string()),
    })?;
    drop(body);
    let results = with_db(&state, move |db| db.store_batch(&device, &events)).await?;
    if results.iter().any(|r| r.status == ResultStatus::Accepted) {
        state.events_stored.notify_waiters();
    }
    if state.dice.roll(state.faults.drop_after_commit) {
        return Err(ApiError::injected(&state.faults, "drop_after_commit"));
    }
    Ok(Json(UploadResponse { results }))
}

async fn peer_events(
    State(state): State<Arc<AppState>>,
    _device: AuthDevice,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let after = match q.get("after") {
        None => None,
        Some(c) => Some(
            c.strip_prefix("e_")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_cursor",
                        format!("cursor `{c}` is not of the form e_<number>"),
                    )
                })?,
        ),
    };
    let limit = match q.get("limit") {
        None => MAX_PEER_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("limit `{l}` is not a number")))?,
    };
    let wait = match q.get("wait") {
        None => Duration::ZERO,
        Some(w) => Duration::from_secs(
            w.parse::<u64>()
                .map_err(|_| {
                    ApiError::bad_request(format!("wait `{w}` is not a number of seconds"))
                })?
                .min(MAX_WAIT_S),
        ),
    };
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        // Registered before looking, so an upload between the query and the wait is not
        // missed. No lock is held while waiting: the query runs and returns.
        let stored = state.events_stored.notified();
        tokio::pin!(stored);
        stored.as_mut().enable();
        let now = chrono::Utc::now();
        let r = with_db(&state, move |db| db.peer_events(after, limit, now)).await?;
        let nothing_newer =
            r.events.is_empty() && !r.more && after.is_some_and(|a| r.cursor == format!("e_{a}"));
        if !nothing_newer
            || tokio::time::Instant::now() >= deadline
            || state.stopping.load(Ordering::SeqCst)
        {
            return Ok(Json(r).into_response());
        }
        tokio::select! {
            _ = &mut stored => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

async fn current(
    State(state): State<Arc<AppState>>,
    _device: AuthDevice,
) -> Result<Response, ApiError> {
    let now = chrono::Utc::now();
    let r = with_db(&state, move |db| db.current(now)).await?;
    Ok(Json(r).into_response())
}

async fn heartbeat(
    State(state): State<Arc<AppState>>,
    AuthDevice(device): AuthDevice,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let body = read_body(body, SMALL_BODY_LIMIT, state.body_timeout).await?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not JSON: {}", clean_text(&e.to_string()))))?;
    if let Err(e) = serde_json::from_value::<Heartbeat>(body.clone()) {
        return Err(ApiError::bad_request(format!("not a heartbeat: {e}")));
    }
    with_db(&state, move |db| db.record_heartbeat(&device, &body)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// The whole API under `/api/v1`.
pub fn router(state: Arc<AppState>) -> Router {
    let guarded = Router::new()
        .route("/api/v1/roster", get(roster))
        .route("/api/v1/attendance/events", post(upload).get(peer_events))
        .route("/api/v1/attendance/current", get(current))
        .route("/api/v1/devices/heartbeat", post(heartbeat))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            inject_faults,
        ));
    Router::new()
        .route("/api/v1/devices/enroll", post(enroll))
        .merge(guarded)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}
