//! Wire types of the hub contract (`docs/hub-api.md`, v1 and the v1.1 additions).
//!
//! These structs are what travels over HTTP between a kiosk and its hub, and nothing
//! else: the kiosk's own model lives in `domain`. Both sides ignore unknown fields
//! (serde's default) and optional fields default when absent, so a newer hub or kiosk
//! stays compatible. Times are RFC 3339 strings with offset, kept as
//! `DateTime<FixedOffset>` so the offset the kiosk recorded is sent back unchanged.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

/// Path prefix of every endpoint.
pub const API_PREFIX: &str = "/api/v1";
/// The hub accepts at most this many events per upload.
pub const MAX_UPLOAD_BATCH: usize = 500;

// ---------------------------------------------------------------- errors

/// Body of every non-2xx answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
            },
        }
    }
}

// ---------------------------------------------------------------- 1. enrollment

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnrollRequest {
    pub code: String,
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EnrollResponse {
    pub device_id: String,
    pub token: String,
    pub center: CenterRef,
    /// base64 of 32 random bytes: the HMAC key for PINs.
    pub pin_key: String,
    #[serde(default)]
    pub qr_keys: Vec<QrKey>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CenterRef {
    pub id: String,
    pub name: String,
    pub timezone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QrKey {
    pub kid: String,
    /// base64 of the 32-byte Ed25519 public key.
    pub ed25519_public: String,
}

// ---------------------------------------------------------------- 2. roster

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RosterResponse {
    pub cursor: String,
    pub full: bool,
    pub center: Center,
    #[serde(default)]
    pub rooms: Vec<Room>,
    #[serde(default)]
    pub staff: Vec<Staff>,
    #[serde(default)]
    pub families: Vec<Family>,
    #[serde(default)]
    pub deleted: Deleted,
    /// The QR verification keys to use from now on (v1.1 point 7; same shape as in
    /// enrollment). Absent: keep the keys the kiosk has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_keys: Option<Vec<QrKey>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Center {
    pub id: String,
    pub name: String,
    pub timezone: String,
    #[serde(default)]
    pub director: Option<Director>,
    /// Local time "HH:MM"; absent means the default 18:00.
    #[serde(default)]
    pub auto_sign_out: Option<String>,
    #[serde(default)]
    pub manual_sync_min_interval_s: Option<u64>,
    /// The center's minimum PIN length (v1.1); the sync report names shorter PINs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pin_length: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Director {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Room {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub children_per_staff: Option<u32>,
    #[serde(default)]
    pub capacity: Option<u32>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Staff {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub employment_status: String,
    #[serde(default)]
    pub start_date: Option<NaiveDate>,
    #[serde(default)]
    pub termination_date: Option<NaiveDate>,
    #[serde(default)]
    pub primary_room_id: Option<String>,
    /// `teacher`, `director` or `admin`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub pin_hmac: Option<String>,
    /// How many digits the PIN has, when the hub says (v1.1): for the minimum-length check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_length: Option<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Family {
    pub id: String,
    #[serde(default)]
    pub people: Vec<Person>,
    #[serde(default)]
    pub children: Vec<Child>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Person {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub text_message_phone: Option<String>,
    #[serde(default)]
    pub is_payer: bool,
    #[serde(default)]
    pub pin_hmac: Option<String>,
    /// How many digits the PIN has, when the hub says (v1.1): for the minimum-length check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_length: Option<u8>,
    #[serde(default)]
    pub photo_url: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Child {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub birth_date: Option<NaiveDate>,
    pub enrollment_status: String,
    #[serde(default)]
    pub enrollment_start: Option<NaiveDate>,
    #[serde(default)]
    pub primary_room_id: Option<String>,
    #[serde(default)]
    pub authorized_pickup_ids: Vec<String>,
    #[serde(default)]
    pub not_authorized_ids: Vec<String>,
    #[serde(default)]
    pub allergies: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub schedule: Vec<ScheduleBlock>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScheduleBlock {
    /// `mon` … `sun`.
    pub days: Vec<String>,
    /// Local "HH:MM".
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub room_id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Deleted {
    #[serde(default)]
    pub families: Vec<String>,
    #[serde(default)]
    pub people: Vec<String>,
    #[serde(default)]
    pub children: Vec<String>,
    #[serde(default)]
    pub staff: Vec<String>,
    #[serde(default)]
    pub rooms: Vec<String>,
}

// ---------------------------------------------------------------- 3. attendance upload

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    CheckIn,
    CheckOut,
    Transfer,
    StaffClockIn,
    StaffClockOut,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::CheckIn => "check_in",
            EventType::CheckOut => "check_out",
            EventType::Transfer => "transfer",
            EventType::StaffClockIn => "staff_clock_in",
            EventType::StaffClockOut => "staff_clock_out",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Guardian,
    Pickup,
    Staff,
    System,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Pin,
    Fingerprint,
    Qr,
    StaffBatch,
    AutoSignOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Actor {
    #[serde(default)]
    pub person_id: Option<String>,
    pub kind: ActorKind,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// UUID v7 chosen by the kiosk, lower-case, hyphenated. Idempotency key forever.
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    #[serde(default)]
    pub child_id: Option<String>,
    #[serde(default)]
    pub staff_id: Option<String>,
    #[serde(default)]
    pub room_id: Option<String>,
    #[serde(default)]
    pub to_room_id: Option<String>,
    pub occurred_at: DateTime<FixedOffset>,
    pub clock_synced: bool,
    pub device_id: String,
    pub actor: Actor,
    pub method: Method,
    #[serde(default)]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadRequest {
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResultStatus {
    Accepted,
    Duplicate,
    Rejected,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventResult {
    pub event_id: String,
    pub status: ResultStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UploadResponse {
    pub results: Vec<EventResult>,
}

// ---------------------------------------------------------------- 4. peer events

/// One event of a peer page: the event as its door recorded it, plus (v1.1) when the hub
/// received it. `received_at` is absent from a v1 hub; the event's own fields are flattened,
/// so a v1 reader sees a plain `Event`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerEvent {
    #[serde(flatten)]
    pub event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<FixedOffset>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PeerEventsResponse {
    pub events: Vec<PeerEvent>,
    pub cursor: String,
    #[serde(default)]
    pub more: bool,
}

// ---------------------------------------------------------------- 5. present now

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurrentResponse {
    pub as_of: DateTime<FixedOffset>,
    #[serde(default)]
    pub children: Vec<PresentChild>,
    #[serde(default)]
    pub staff: Vec<PresentStaff>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PresentChild {
    pub child_id: String,
    #[serde(default)]
    pub room_id: Option<String>,
    pub since: DateTime<FixedOffset>,
    /// `clock_suspect` when `since` is the hub's arrival time because the door's clock ran
    /// ahead (v1.1 point 5). Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PresentStaff {
    pub staff_id: String,
    pub since: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

// ---------------------------------------------------------------- 6. heartbeat

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub version: String,
    pub queue_depth: u64,
    #[serde(default)]
    pub oldest_pending_at: Option<DateTime<FixedOffset>>,
    pub parked: u64,
    #[serde(default)]
    pub last_roster_cursor: Option<String>,
    pub clock_synced: bool,
    #[serde(default)]
    pub hardware: HardwareStatus,
    /// Cubby's addition (docs/hub-api.md, "Cubby's additions"): the last error of each
    /// of the kiosk's loops, absent when none failed. Hubs that do not know it ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_errors: Option<LastErrors>,
    /// Cubby's addition: the keypad lockout, so the director sees guessing at a door.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keypad: Option<KeypadStatus>,
}

/// The door's keypad lockout as the heartbeat reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct KeypadStatus {
    /// When the current lock ends (absent: the keypad is open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<DateTime<FixedOffset>>,
    /// Locks in the last 24 hours.
    pub lockouts_24h: u32,
    /// Wrong complete PINs in the current 10-minute window.
    pub recent_misses: u32,
}

/// The last error of each loop of a kiosk, in plain words (hub text already cleaned),
/// each absent while that loop works.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LastErrors {
    /// Delivering attendance events (`POST /attendance/events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<String>,
    /// Fetching the roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<String>,
    /// Fetching other doors' events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<String>,
    /// Sending the heartbeat (reported by the next one that gets through).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<String>,
    /// Writing the kiosk's own database (full or read-only disk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<String>,
}

impl LastErrors {
    /// No loop has an error.
    pub const NONE: LastErrors = LastErrors {
        upload: None,
        roster: None,
        peers: None,
        heartbeat: None,
        disk: None,
    };

    pub fn is_empty(&self) -> bool {
        self == &LastErrors::NONE
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HardwareStatus {
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub scanner: Option<String>,
    #[serde(default)]
    pub gpio: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roster_example_from_contract_parses_and_ignores_unknown_fields() {
        let text = r#"{
          "cursor": "r_1042", "full": true, "future_field": 1,
          "center": {"id": "center_001", "name": "Maple", "timezone": "America/Chicago",
                     "director": {"name": "Pat Moore", "email": "pat@maple.example"},
                     "auto_sign_out": "18:00", "manual_sync_min_interval_s": 3600},
          "rooms": [{"id": "room_101", "name": "Toddlers", "children_per_staff": 6, "capacity": 12, "active": true}],
          "staff": [{"id": "staff_456", "first_name": "Lee", "last_name": "Chen", "email": "lee@maple.example",
                     "employment_status": "currently_employed", "start_date": "2024-01-08",
                     "termination_date": null, "primary_room_id": "room_101", "role": "teacher",
                     "pin_hmac": "ab"}],
          "families": [{"id": "fam_12",
            "people": [{"id": "per_1", "first_name": "Dana", "last_name": "Rivera", "email": "dana@example.com",
                        "text_message_phone": "+15125550101", "is_payer": true, "pin_hmac": "cd", "photo_url": null}],
            "children": [{"id": "child_789", "first_name": "Alex", "last_name": "Rivera", "birth_date": "2023-04-02",
                          "enrollment_status": "enrolled", "enrollment_start": "2024-01-08",
                          "primary_room_id": "room_101", "authorized_pickup_ids": ["per_3"],
                          "not_authorized_ids": [], "allergies": "peanuts", "notes": null,
                          "schedule": [{"days": ["mon","tue"], "from": "12:00", "to": "18:00", "room_id": "room_102"}]}]}],
          "deleted": {"families": [], "people": [], "children": [], "staff": [], "rooms": []}
        }"#;
        let r: RosterResponse = serde_json::from_str(text).expect("contract example parses");
        assert_eq!(r.cursor, "r_1042");
        assert_eq!(
            r.families[0].children[0].schedule[0].room_id.as_deref(),
            Some("room_102")
        );
        assert_eq!(r.staff[0].start_date, NaiveDate::from_ymd_opt(2024, 1, 8));
    }

    #[test]
    fn event_serializes_type_field_and_snake_case_enums() {
        let e = Event {
            event_id: "0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f".into(),
            kind: EventType::StaffClockIn,
            child_id: None,
            staff_id: Some("staff_456".into()),
            room_id: None,
            to_room_id: None,
            occurred_at: DateTime::parse_from_rfc3339("2026-11-23T08:32:15-06:00").unwrap(),
            clock_synced: true,
            device_id: "dev_01".into(),
            actor: Actor {
                person_id: None,
                kind: ActorKind::Staff,
                name: "Lee Chen".into(),
            },
            method: Method::StaffBatch,
            flags: vec![],
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "staff_clock_in");
        assert_eq!(v["method"], "staff_batch");
        assert_eq!(v["occurred_at"], "2026-11-23T08:32:15-06:00");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn peer_event_reads_v1_and_v1_1_pages_and_writes_flat_events() {
        let v1 = r#"{"events": [{"event_id": "0190f3c1-7a2b-7c3d-8e4f-5a6b7c8d9e0f", "type": "check_in",
            "child_id": "child_1", "occurred_at": "2026-11-23T08:32:15-06:00", "clock_synced": true,
            "device_id": "dev_02", "actor": {"kind": "guardian", "name": "Dana"}, "method": "pin"}],
            "cursor": "e_1"}"#;
        let page: PeerEventsResponse = serde_json::from_str(v1).unwrap();
        assert_eq!(page.events[0].event.child_id.as_deref(), Some("child_1"));
        assert_eq!(page.events[0].received_at, None);
        let mut v = serde_json::to_value(&page.events[0]).unwrap();
        assert_eq!(v["type"], "check_in");
        assert!(v.get("received_at").is_none());
        v["received_at"] = "2026-11-23T14:32:20Z".into();
        let back: PeerEvent = serde_json::from_value(v).unwrap();
        assert_eq!(
            back.received_at.unwrap().to_rfc3339(),
            "2026-11-23T14:32:20+00:00"
        );
    }
}
