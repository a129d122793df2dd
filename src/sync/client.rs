//! The kiosk's HTTP client for the hub contract (`docs/hub-api.md`, v1).
//!
//! Owns: one method per endpoint, the bearer token, response size caps, and the single
//! place where a failed call is classified into a [`SyncError`]
//! ([`classify_status`] for HTTP answers, `network_error` for transport failures).
//! Everything above this module (pusher, pullers, heartbeat) decides what to do from
//! the error's kind alone and never looks at status codes.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{
    CurrentResponse, EnrollRequest, EnrollResponse, ErrorBody, Event, Heartbeat, RosterResponse,
    UploadResponse, API_PREFIX,
};
use crate::kiosk::Trouble;
use crate::sanitize;

/// A roster of a large center (photos are URLs, not bytes) stays well under this; a bigger
/// answer is a misrouted URL or a broken proxy, and must not exhaust a Raspberry Pi's RAM.
pub const ROSTER_BODY_CAP: usize = 16 * 1024 * 1024;
/// Every other answer is small (500 events is about 250 KiB).
pub const BODY_CAP: usize = 4 * 1024 * 1024;
/// Error bodies are only read for their `code` and `message`.
const ERROR_BODY_CAP: usize = 64 * 1024;
/// The longest long-poll the contract allows (`wait` ≤ 30 s).
pub const MAX_PEER_WAIT: Duration = Duration::from_secs(30);

/// Idle pooled connections are dropped after this, before a hub closes them (the
/// reference hub closes idle connections after 10 s): a request never lands on a socket
/// the hub already closed.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// Connecting should be quick on a LAN; a dead route must not eat the whole timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call to the hub failed, classified once so callers only decide *what to do*.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// No HTTP answer at all: connect refused, DNS, TLS, timeout, connection reset.
    #[error("hub unreachable: {0}")]
    Network(String),
    /// The hub answered 408, 429 or 5xx: try again later, honouring `retry_after`.
    #[error("hub temporarily unavailable (HTTP {status}): {message}")]
    Transient {
        status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// 401 on a call that carried the device token: the token is revoked or wrong. The
    /// kiosk stops calling and staff are told the device needs re-provisioning.
    #[error("hub refused this device's token: the device needs re-provisioning")]
    Unauthorized,
    /// Any other 4xx: the request itself is refused and resending it unchanged will not help.
    #[error("hub refused the request (HTTP {status} {code}): {message}")]
    Permanent {
        status: u16,
        code: String,
        message: String,
    },
    /// The hub's answer (or our configuration of it) is unusable: oversized, not JSON, not
    /// the contract's shape, wrong results for an upload, an unexpected redirect, or an
    /// invalid hub URL. The message says what was wrong, never the payload.
    #[error("{0}")]
    Malformed(String),
}

impl SyncError {
    /// Whether the same request may succeed later unchanged (network, 408/429/5xx, or an
    /// unusable answer, which is usually a proxy or a hub mid-upgrade).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SyncError::Network(_) | SyncError::Transient { .. } | SyncError::Malformed(_)
        )
    }

    /// The error for a log line: the status and the hub's error code, never the hub's
    /// message (free text that may name people). Staff see the full [`Display`] text.
    ///
    /// [`Display`]: std::fmt::Display
    pub fn log_text(&self) -> String {
        match self {
            SyncError::Transient { status, .. } => {
                format!("hub temporarily unavailable (HTTP {status})")
            }
            SyncError::Permanent { status, code, .. } => {
                format!("hub refused the request (HTTP {status} {code})")
            }
            other => other.to_string(),
        }
    }

    /// What the door's screens say of it.
    pub fn trouble(&self) -> Trouble {
        match self {
            SyncError::Network(_) => Trouble::HubUnreachable,
            SyncError::Transient { status, .. } => Trouble::HubBusy { status: *status },
            SyncError::Unauthorized => Trouble::Revoked,
            SyncError::Permanent { status, .. } => Trouble::HubRefused { status: *status },
            SyncError::Malformed(_) => Trouble::BadAnswer,
        }
    }

    /// The hub's `Retry-After`, when it sent one with a transient error.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SyncError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Classify a non-2xx HTTP answer. The one place that maps statuses to [`SyncError`].
///
/// `sent_token` says whether the request carried the device token: a 401 on enrollment
/// (no token) means "unknown enrollment code", not "device revoked", so it is `Permanent`.
/// `retry_after` is the raw `Retry-After` header; only delta-seconds is understood (the
/// contract's form), an HTTP-date is ignored and our own backoff applies.
pub fn classify_status(
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    sent_token: bool,
) -> SyncError {
    // The hub's words are shown to staff (cleaned and capped), never logged at WARN:
    // see [`SyncError::log_text`].
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error)
        .map(|d| crate::api::ErrorDetail {
            code: sanitize::code(&d.code),
            message: sanitize::clean(&d.message, sanitize::MESSAGE_MAX),
        });
    let status_text = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unknown status")
        .to_string();
    match status {
        401 if sent_token => SyncError::Unauthorized,
        408 | 429 | 500..=599 => SyncError::Transient {
            status,
            retry_after: retry_after.and_then(parse_retry_after),
            message: detail.map_or(status_text, |d| d.message),
        },
        400..=499 => {
            let (code, message) = match detail {
                Some(d) => (d.code, d.message),
                None => (format!("http_{status}"), status_text),
            };
            SyncError::Permanent {
                status,
                code,
                message,
            }
        }
        300..=399 => SyncError::Malformed(format!(
            "hub answered with a redirect (HTTP {status} {status_text}); \
             configure the hub URL it redirects to (e.g. https instead of http)"
        )),
        _ => SyncError::Malformed(format!(
            "hub answered with unexpected HTTP {status} {status_text}"
        )),
    }
}

/// `Retry-After: <seconds>` → duration. Anything else → `None`.
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Map a transport failure to [`SyncError::Network`] with a short human reason
/// ("connection refused") instead of reqwest's nested chain that repeats the URL.
fn network_error(err: &reqwest::Error, timeout: Duration) -> SyncError {
    if err.is_builder() {
        return SyncError::Malformed(format!("could not build the request to the hub: {err}"));
    }
    if err.is_timeout() {
        return SyncError::Network(format!("no answer within {} s", timeout.as_secs_f32()));
    }
    let mut io_kind = None;
    let mut innermost = err.to_string();
    let mut source: Option<&dyn std::error::Error> = err.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        innermost = e.to_string();
        source = e.source();
    }
    use std::io::ErrorKind as K;
    let reason = match io_kind {
        Some(K::ConnectionRefused) => "connection refused".to_string(),
        Some(K::ConnectionReset) => "connection reset".to_string(),
        Some(K::ConnectionAborted) => "connection aborted".to_string(),
        Some(K::TimedOut) => "timed out".to_string(),
        Some(K::UnexpectedEof) => "connection closed before the answer was complete".to_string(),
        _ if err.is_connect() => format!("could not connect: {innermost}"),
        _ => innermost,
    };
    SyncError::Network(reason)
}

/// Describe a JSON decoding failure without quoting the payload (a roster holds
/// children's names; logs and status screens must not).
fn describe_json_error(what: &str, path: &str, err: &serde_json::Error) -> SyncError {
    use serde_json::error::Category;
    let at = format!("line {} column {}", err.line(), err.column());
    let detail = match err.classify() {
        Category::Syntax | Category::Eof => format!("is not valid JSON ({at})"),
        Category::Data => {
            let text = err.to_string();
            if text.starts_with("missing field") {
                // "missing field `results` at line 1 column 2": names a field, no data.
                format!("does not match the hub contract: {text}")
            } else {
                format!(
                    "does not match the hub contract: field `{path}` has the wrong type or value ({at})"
                )
            }
        }
        Category::Io => format!("could not be read ({at})"),
    };
    SyncError::Malformed(format!(
        "{what} answer from the hub {detail}; check that the hub URL points at a Cubby hub \
         and that the hub speaks API v1"
    ))
}

/// Client for one hub. Cheap to clone (the connection pool is shared), so the pusher,
/// the pullers and the heartbeat each own one.
#[derive(Clone)]
pub struct HubClient {
    http: Client,
    /// Base URL without a trailing slash, e.g. `https://hub.example/cubby`.
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for HubClient {
    /// Never prints the token: a `Debug` of the client may end up in a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HubClient {
    /// A client for the hub at `base_url` (`http` or `https`, may carry a path prefix, a
    /// trailing slash is tolerated). `token` is the device token from enrollment; without
    /// one only [`enroll`](Self::enroll) can be called. `timeout` bounds each whole call,
    /// body included, so a stalled hub never holds the pusher forever.
    pub fn new(
        base_url: &str,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, SyncError> {
        let trimmed = base_url.trim();
        let url = Url::parse(trimmed).map_err(|e| {
            SyncError::Malformed(format!(
                "invalid hub URL {trimmed:?}: {e} (expected e.g. https://hub.example.org)"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SyncError::Malformed(format!(
                "invalid hub URL {trimmed:?}: scheme must be http or https"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(SyncError::Malformed(format!(
                "invalid hub URL {trimmed:?}: no host name"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(SyncError::Malformed(format!(
                "invalid hub URL {trimmed:?}: must not contain '?' or '#'"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(SyncError::Malformed(format!(
                "invalid hub URL {trimmed:?}: must not contain credentials (the device token is separate)"
            )));
        }
        let base = url.as_str().trim_end_matches('/').to_string();
        let timeout = timeout.max(Duration::from_millis(1));
        let http = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
            .pool_idle_timeout(POOL_IDLE)
            // A redirect would be followed without the token (reqwest strips it across
            // hosts) and hides a misconfigured URL: report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cubby/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SyncError::Network(format!("could not start the HTTP client: {e}")))?;
        Ok(HubClient {
            http,
            base,
            token,
            timeout,
        })
    }

    /// The hub's base URL as configured, without trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `POST /devices/enroll`: trade a one-time code for a device token. No bearer token;
    /// a 401 here (unknown code) is `Permanent`, not `Unauthorized`.
    pub async fn enroll(&self, request: &EnrollRequest) -> Result<EnrollResponse, SyncError> {
        let req = self.http.post(self.url("/devices/enroll")).json(request);
        let body = self.call(req, false, "enrollment", BODY_CAP).await?;
        parse_json(&body, "enrollment")
    }

    /// `GET /roster` (full snapshot) or `GET /roster?since=cursor` (changes, or a full
    /// snapshot if the hub decides so: check `full`).
    pub async fn roster(&self, since: Option<&str>) -> Result<RosterResponse, SyncError> {
        let mut req = self.http.get(self.url("/roster"));
        if let Some(cursor) = since {
            req = req.query(&[("since", cursor)]);
        }
        let body = self.call(req, true, "roster", ROSTER_BODY_CAP).await?;
        parse_roster(&body)
    }

    /// `POST /attendance/events`. Succeeds only if the hub returned exactly one result per
    /// event, with the same ids in the same order: anything else is `Malformed`, so the
    /// caller can never delete an outbox row on the strength of a garbled answer.
    pub async fn upload(&self, events: &[Event]) -> Result<UploadResponse, SyncError> {
        let request = UploadRequestRef { events };
        let req = self
            .http
            .post(self.url("/attendance/events"))
            .json(&request);
        let body = self.call(req, true, "upload", BODY_CAP).await?;
        let response: UploadResponse = parse_json(&body, "upload")?;
        check_upload_results(events, &response)?;
        Ok(response)
    }

    /// `GET /attendance/events?after=cursor&limit=n[&wait=s]`: what other doors recorded.
    ///
    /// With `wait` (long-poll, contract v1.1 point 6; at most [`MAX_PEER_WAIT`]) a hub may
    /// hold the request until an event newer than `after` arrives; this call then allows
    /// `wait` on top of the client's timeout. A hub that ignores `wait` answers at once.
    ///
    /// Read leniently ([`parse_peer_page`]): one unreadable event is skipped and counted,
    /// not a reason to refuse the page (and stay stuck on its cursor forever).
    pub async fn peer_events(
        &self,
        after: Option<&str>,
        limit: u32,
        wait: Option<Duration>,
    ) -> Result<PeerPage, SyncError> {
        let mut req = self
            .http
            .get(self.url("/attendance/events"))
            .query(&[("limit", limit)]);
        if let Some(cursor) = after {
            req = req.query(&[("after", cursor)]);
        }
        if let Some(wait) = wait.map(|w| w.min(MAX_PEER_WAIT)) {
            req = req
                .query(&[("wait", wait.as_secs())])
                .timeout(self.timeout + wait);
        }
        let body = self.call(req, true, "peer events", BODY_CAP).await?;
        parse_peer_page(&body)
    }

    /// `GET /attendance/current`: who the hub thinks is present now.
    pub async fn current(&self) -> Result<CurrentResponse, SyncError> {
        let req = self.http.get(self.url("/attendance/current"));
        let body = self.call(req, true, "present-now", BODY_CAP).await?;
        parse_json(&body, "present-now")
    }

    /// `POST /devices/heartbeat`. Any 2xx is success; the body (normally none, 204) is
    /// ignored.
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), SyncError> {
        let req = self
            .http
            .post(self.url("/devices/heartbeat"))
            .json(heartbeat);
        self.call(req, true, "heartbeat", BODY_CAP).await?;
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PREFIX}{path}", self.base)
    }

    /// Send one request and return the body of a 2xx answer, read up to `cap` bytes.
    /// Every failure leaves here already classified.
    async fn call(
        &self,
        req: RequestBuilder,
        with_token: bool,
        what: &str,
        cap: usize,
    ) -> Result<Vec<u8>, SyncError> {
        let mut req = req.header(ACCEPT, "application/json");
        if with_token {
            // Without a token the hub can only answer 401: do not even ask. The contract
            // wants an unprovisioned or revoked kiosk to stop calling.
            let Some(token) = &self.token else {
                return Err(SyncError::Unauthorized);
            };
            req = req.bearer_auth(token);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| network_error(&e, self.timeout))?;
        let status = resp.status();
        if status.is_success() {
            return self.read_capped(&mut resp, cap, what).await;
        }
        let retry_after = header_str(resp.headers(), RETRY_AFTER);
        // The error body is only a hint: if it cannot be read, classify on the status.
        let body = self
            .read_capped(&mut resp, ERROR_BODY_CAP, what)
            .await
            .unwrap_or_default();
        Err(classify_status(
            status.as_u16(),
            retry_after.as_deref(),
            &body,
            with_token,
        ))
    }

    /// Read a body, refusing more than `cap` bytes whether or not the hub announced a
    /// length, so a broken proxy streaming forever cannot exhaust memory.
    async fn read_capped(
        &self,
        resp: &mut Response,
        cap: usize,
        what: &str,
    ) -> Result<Vec<u8>, SyncError> {
        let too_big = || {
            SyncError::Malformed(format!(
                "{what} answer from the hub is larger than the {} MiB limit; \
                 check that the hub URL points at a Cubby hub and not at a web page or proxy",
                cap / (1024 * 1024)
            ))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > u64::try_from(cap).unwrap_or(u64::MAX))
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| network_error(&e, self.timeout))?
        {
            if body.len() + chunk.len() > cap {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Borrowing twin of [`crate::api::UploadRequest`]: same JSON, without cloning up to 500 events.
#[derive(Serialize)]
struct UploadRequestRef<'a> {
    events: &'a [Event],
}

fn header_str(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn parse_json<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, SyncError> {
    // The path (`rooms[0].active`) names the field with ids and indexes only, never data.
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        describe_json_error(what, &path, e.inner())
    })?;
    de.end().map_err(|e| describe_json_error(what, ".", &e))?;
    Ok(value)
}

/// A page of other doors' events, read leniently.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerPage {
    /// The events that could be read, in hub order.
    pub events: Vec<PeerEvent>,
    /// Events on the page that could not be read (wrong shape, over the contract's
    /// limits) and were skipped.
    pub skipped: usize,
    pub cursor: String,
    pub more: bool,
}

/// One event from the peer feed, with the hub's `received_at` when it sends one
/// (hub-api.md v1.1 point 5).
#[derive(Debug, Clone, PartialEq)]
pub struct PeerEvent {
    pub event: Event,
    pub received_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// One event's JSON may not exceed this (hub-api.md v1.1 point 4).
pub const EVENT_JSON_MAX: usize = 8 * 1024;
/// At most this many flags of at most [`FLAG_MAX`] characters (v1.1 point 4).
pub const FLAGS_MAX: usize = 16;
pub const FLAG_MAX: usize = 40;

#[derive(serde::Deserialize)]
struct RawPeerPage {
    events: Vec<serde_json::Value>,
    cursor: String,
    #[serde(default)]
    more: bool,
}

/// Decode a page of section 4: the envelope strictly (`events`, `cursor`), each event
/// on its own, so a bad event is skipped and counted instead of sinking the page.
/// An event is bad when it does not have the contract's shape or breaks its limits
/// (JSON over 8 KiB, an id that is empty, over 100 characters or with control or
/// invisible characters, a name over 200 characters, more than 16 flags or one over 40
/// characters). Names and flags that pass are cleaned for display.
pub fn parse_peer_page(body: &[u8]) -> Result<PeerPage, SyncError> {
    let raw: RawPeerPage = parse_json(body, "peer events")?;
    if raw.cursor.is_empty() || !crate::domain::source::id_ok(&raw.cursor) {
        return Err(SyncError::Malformed(
            "peer events answer from the hub has an unusable cursor".into(),
        ));
    }
    let mut events = Vec::with_capacity(raw.events.len());
    let mut skipped = 0;
    for value in raw.events {
        match peer_event(value) {
            Some(e) => events.push(e),
            None => skipped += 1,
        }
    }
    Ok(PeerPage {
        events,
        skipped,
        cursor: raw.cursor,
        more: raw.more,
    })
}

fn peer_event(value: serde_json::Value) -> Option<PeerEvent> {
    use crate::domain::source::id_ok;
    let size = serde_json::to_vec(&value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > EVENT_JSON_MAX {
        return None;
    }
    let received_at = match value.get("received_at") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())?,
        ),
    };
    let mut event: Event = serde_json::from_value(value).ok()?;
    let opt_ok = |id: &Option<String>| id.as_deref().is_none_or(id_ok);
    let ids_ok = id_ok(&event.event_id)
        && id_ok(&event.device_id)
        && opt_ok(&event.child_id)
        && opt_ok(&event.staff_id)
        && opt_ok(&event.room_id)
        && opt_ok(&event.to_room_id)
        && opt_ok(&event.actor.person_id);
    let limits_ok = event.actor.name.chars().count() <= sanitize::NAME_MAX
        && event.flags.len() <= FLAGS_MAX
        && event.flags.iter().all(|f| f.chars().count() <= FLAG_MAX);
    if !ids_ok || !limits_ok {
        return None;
    }
    event.actor.name = sanitize::clean(&event.actor.name, sanitize::NAME_MAX);
    for f in &mut event.flags {
        *f = sanitize::clean(f, FLAG_MAX);
    }
    Some(PeerEvent { event, received_at })
}

/// Which lists a roster answer carries (present, even empty, versus absent or `null`).
#[derive(serde::Deserialize)]
struct RosterLists {
    #[serde(default)]
    rooms: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    staff: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    families: Option<serde::de::IgnoredAny>,
}

/// Decode a roster answer and make its display text safe
/// ([`crate::domain::source::sanitize_answer`]).
///
/// A full snapshot (`"full": true`) must carry `rooms`, `staff` and `families`, even
/// empty: a missing list is a broken hub or proxy, not "none of them", and taking it at
/// its word would archive every family and wipe every parent's PIN. Changes only
/// (`"full": false`) may leave out what did not change.
pub fn parse_roster(body: &[u8]) -> Result<RosterResponse, SyncError> {
    let mut resp: RosterResponse = parse_json(body, "roster")?;
    if resp.full {
        let lists: RosterLists = parse_json(body, "roster")?;
        let missing: Vec<&str> = [
            ("rooms", lists.rooms.is_none()),
            ("staff", lists.staff.is_none()),
            ("families", lists.families.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, absent)| absent.then_some(name))
        .collect();
        if !missing.is_empty() {
            let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
            return Err(SyncError::Malformed(format!(
                "roster answer from the hub is a full roster without the {} list{}; \
                 refused, the previous roster stays in use (a center with none sends an empty list)",
                names.join(", "),
                if missing.len() > 1 { "s" } else { "" }
            )));
        }
    }
    crate::domain::source::sanitize_answer(&mut resp);
    Ok(resp)
}

/// One result per event, same ids, same order (contract §3).
fn check_upload_results(events: &[Event], response: &UploadResponse) -> Result<(), SyncError> {
    if response.results.len() != events.len() {
        return Err(SyncError::Malformed(format!(
            "upload answer from the hub has {} results for {} events; \
             nothing was marked delivered, the batch will be resent",
            response.results.len(),
            events.len()
        )));
    }
    for (i, (event, result)) in events.iter().zip(&response.results).enumerate() {
        if event.event_id != result.event_id {
            return Err(SyncError::Malformed(format!(
                "upload answer from the hub lists event {} at position {} where {} was sent; \
                 nothing was marked delivered, the batch will be resent",
                sanitize::clean(&result.event_id, 100),
                i + 1,
                event.event_id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::UploadRequest;

    fn body(code: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(&ErrorBody::new(code, message)).unwrap()
    }

    #[test]
    fn transient_statuses_are_retryable_and_keep_the_hub_message() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            let e = classify_status(status, None, &body("busy", "try later"), true);
            assert_eq!(
                e,
                SyncError::Transient {
                    status,
                    retry_after: None,
                    message: "try later".into()
                },
                "status {status}"
            );
            assert!(e.is_retryable());
        }
    }

    #[test]
    fn transient_without_body_falls_back_to_status_text() {
        let e = classify_status(503, None, b"<html>oops</html>", true);
        assert_eq!(
            e.to_string(),
            "hub temporarily unavailable (HTTP 503): Service Unavailable"
        );
    }

    #[test]
    fn retry_after_seconds_are_parsed_and_dates_ignored() {
        let e = classify_status(429, Some(" 120 "), b"", true);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
        let e = classify_status(503, Some("Wed, 21 Oct 2026 07:28:00 GMT"), b"", true);
        assert_eq!(e.retry_after(), None);
        let e = classify_status(503, Some("-5"), b"", true);
        assert_eq!(e.retry_after(), None);
    }

    #[test]
    fn status_401_with_token_is_unauthorized() {
        let e = classify_status(401, None, &body("unauthorized", "token revoked"), true);
        assert_eq!(e, SyncError::Unauthorized);
        assert!(!e.is_retryable());
    }

    #[test]
    fn status_401_on_enrollment_is_permanent_unknown_code() {
        let e = classify_status(401, None, &body("unknown_code", "no such code"), false);
        assert_eq!(
            e,
            SyncError::Permanent {
                status: 401,
                code: "unknown_code".into(),
                message: "no such code".into()
            }
        );
    }

    #[test]
    fn other_4xx_are_permanent_with_the_contract_error_body() {
        for status in [400, 403, 404, 409, 413, 422] {
            let e = classify_status(status, Some("5"), &body("bad_event", "unknown child"), true);
            assert_eq!(
                e,
                SyncError::Permanent {
                    status,
                    code: "bad_event".into(),
                    message: "unknown child".into()
                }
            );
            assert!(!e.is_retryable());
            assert_eq!(e.retry_after(), None);
        }
    }

    #[test]
    fn permanent_with_junk_body_falls_back_to_status_text() {
        let e = classify_status(409, None, b"not json", false);
        assert_eq!(
            e,
            SyncError::Permanent {
                status: 409,
                code: "http_409".into(),
                message: "Conflict".into()
            }
        );
    }

    #[test]
    fn redirects_and_odd_statuses_are_malformed_and_retryable() {
        let e = classify_status(302, None, b"", true);
        assert!(
            matches!(&e, SyncError::Malformed(m) if m.contains("redirect")),
            "{e}"
        );
        assert!(e.is_retryable());
        assert!(matches!(
            classify_status(600, None, b"", true),
            SyncError::Malformed(_)
        ));
    }

    #[test]
    fn json_errors_describe_the_problem_without_quoting_data() {
        for junk in [
            r#"{"results": [{"event_id": "Alex Rivera", "status": "Alex"}]}"#,
            r#"{"results": [{"event_id": 7, "status": "accepted", "reason": "Alex"}]}"#,
            r#"{"results": "Alex Rivera"}"#,
        ] {
            let err = serde_json::from_str::<UploadResponse>(junk).unwrap_err();
            let msg = describe_json_error("upload", ".", &err).to_string();
            assert!(msg.contains("wrong type"), "{msg}");
            assert!(!msg.contains("Alex"), "{msg}");
        }
        let err = serde_json::from_slice::<UploadResponse>(b"{}").unwrap_err();
        assert!(describe_json_error("upload", ".", &err)
            .to_string()
            .contains("missing field `results`"));
        let err = serde_json::from_slice::<UploadResponse>(b"<html>").unwrap_err();
        assert!(describe_json_error("upload", ".", &err)
            .to_string()
            .contains("not valid JSON"));
    }

    #[test]
    fn base_url_is_validated_and_trailing_slash_tolerated() {
        let t = Duration::from_secs(5);
        let c = HubClient::new("https://hub.example/cubby/", None, t).unwrap();
        assert_eq!(c.base_url(), "https://hub.example/cubby");
        assert_eq!(c.url("/roster"), "https://hub.example/cubby/api/v1/roster");
        let c = HubClient::new("http://127.0.0.1:8080", None, t).unwrap();
        assert_eq!(c.url("/roster"), "http://127.0.0.1:8080/api/v1/roster");
        for bad in [
            "",
            "hub.example",
            "ftp://hub.example",
            "https://hub.example/?x=1",
            "https://u:p@hub.example",
        ] {
            let e = HubClient::new(bad, None, t).unwrap_err();
            assert!(
                matches!(&e, SyncError::Malformed(m) if m.contains("invalid hub URL")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn borrowed_upload_request_serializes_like_the_wire_type() {
        let owned = UploadRequest { events: vec![] };
        let borrowed = UploadRequestRef { events: &[] };
        assert_eq!(
            serde_json::to_value(&owned).unwrap(),
            serde_json::to_value(&borrowed).unwrap()
        );
    }

    #[test]
    fn debug_never_prints_the_token() {
        let c = HubClient::new(
            "https://hub.example",
            Some("s3cret".into()),
            Duration::from_secs(1),
        )
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("redacted"));
    }
}
