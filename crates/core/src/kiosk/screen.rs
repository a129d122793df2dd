//! The view model: what the door shows, as plain serialisable data. The Slint UI and
//! the headless JSON protocol are both views of this; neither holds business logic.

use serde::Serialize;

// One screen per frame: the device screen's size is not worth a box (and a flat
// variant keeps the views' pattern matches simple).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    Home {
        center: String,
        clock: String,
        greeting: String,
    },
    Pin {
        /// How many digits are entered (the digits themselves are never shown).
        entered: usize,
        locked_for_s: Option<u64>,
        message: Option<String>,
    },
    Family {
        greeting: String,
        children: Vec<ChildCard>,
        check_in_count: usize,
        check_out_count: usize,
        notice: Option<String>,
    },
    Saving,
    Done {
        lines: Vec<String>,
    },
    Message {
        tone: Tone,
        text: String,
    },
    Staff {
        name: String,
        on_duty: bool,
        rooms: Vec<RoomCard>,
        alerts: Vec<String>,
        keypad_locked: bool,
        manual_sync: ManualSync,
        notice: Option<String>,
        /// Events the hub refused, waiting in `sync_errors` (badge on the button).
        parked: usize,
        /// This staff member may open the device screen (director/admin).
        device_allowed: bool,
    },
    StaffRoom {
        room_id: String,
        room_name: String,
        children: Vec<RosterRow>,
        selected: usize,
        check_in_count: usize,
        check_out_count: usize,
        /// `children` lists the present ones first: this many, then the absent ones.
        present_count: usize,
        absent_count: usize,
        /// Every child of the group is selected (`select_present` / `select_absent`).
        all_present_selected: bool,
        all_absent_selected: bool,
        /// A large batch check-in was tapped once: the next `check_in` records it.
        confirm_check_in: bool,
        transfer_to: Vec<RoomRef>,
        notice: Option<String>,
    },
    /// Emergency roll call: everyone on site when it started, by room.
    RollCall {
        /// "3 of 7 accounted for"
        progress: String,
        accounted: usize,
        total: usize,
        rooms: Vec<RollCallRoom>,
        /// Local time the roll call started ("10:02").
        started_at: String,
        /// Set when nobody is on site.
        notice: Option<String>,
    },
    /// The roll call's result; `back` returns to the list, `done` to the staff screen.
    RollCallSummary {
        all_accounted: bool,
        /// "Everyone is accounted for (7)." / "2 of 7 not accounted for."
        text: String,
        accounted: usize,
        total: usize,
        missing: Vec<RollCallPerson>,
    },
    /// Events the hub refused (parked) and the recent roster sync reports.
    SyncErrors {
        parked: Vec<ParkedRow>,
        reports: Vec<ReportRow>,
        notice: Option<String>,
    },
    /// Director/admin: this kiosk, its hardware, and fingerprint enrollment.
    Device {
        version: String,
        device_id: String,
        hub_url: String,
        /// The network address, or "No network address".
        address: String,
        clock_synced: bool,
        clock_text: String,
        queue_text: String,
        hardware: Vec<crate::kiosk::HardwareLine>,
        /// Letter tabs (initial of the last name) with how many people each holds.
        letters: Vec<LetterTab>,
        /// The chosen letter, if any.
        letter: Option<String>,
        /// One page of people under the chosen letter.
        people: Vec<PersonRow>,
        /// 0-based page and page count of `people` (`page_prev` / `page_next`).
        page: usize,
        pages: usize,
        /// The chosen person (`person:<id>`).
        person: Option<PersonRow>,
        consent: bool,
        consent_text: String,
        /// `enroll_finger` is enabled: a person is chosen, consent ticked, nothing running.
        can_enroll: bool,
        /// `delete_fingers` is enabled: the chosen person has fingerprints, nothing running.
        can_delete: bool,
        /// The first `delete_fingers` tap was made; the next one deletes.
        confirm_delete: bool,
        enroll: Option<EnrollView>,
        notice: Option<String>,
        /// The hub refused this door's token: what that means and what to do.
        revoked: Option<String>,
    },
    /// The kiosk cannot work safely (a damaged database, a read-only disk): nothing is
    /// recorded, and the screen says so with the reason in plain words. Put up by the
    /// runtime's start-up check, without a working store.
    NeedsTechnician {
        reason: String,
    },
    /// First boot: this kiosk has no hub yet. The form collects the hub URL, the
    /// enrollment code and a device name (`Input::Provision`).
    Provision {
        hub_url: String,
        name: String,
        /// A provisioning attempt is in progress.
        busy: bool,
        /// Why the last attempt failed, in plain words.
        error: Option<String>,
    },
}

impl Screen {
    pub fn name(&self) -> &'static str {
        match self {
            Screen::Home { .. } => "home",
            Screen::Pin { .. } => "pin",
            Screen::Family { .. } => "family",
            Screen::Saving => "saving",
            Screen::Done { .. } => "done",
            Screen::Message { .. } => "message",
            Screen::Staff { .. } => "staff",
            Screen::StaffRoom { .. } => "staff_room",
            Screen::RollCall { .. } => "roll_call",
            Screen::RollCallSummary { .. } => "roll_call_summary",
            Screen::SyncErrors { .. } => "sync_errors",
            Screen::Device { .. } => "device",
            Screen::Provision { .. } => "provision",
            Screen::NeedsTechnician { .. } => "needs_technician",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Success,
    Caution,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildCard {
    pub id: String,
    pub first_name: String,
    pub initials: String,
    pub room: String,
    /// "In since 8:02" / "Not here"
    pub state: String,
    pub present: bool,
    pub selected: bool,
    /// Why this person may not act for this child, in calm words.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomCard {
    pub id: String,
    pub name: String,
    pub present: usize,
    pub staff_on_duty: usize,
    /// children per staff member allowed in this room
    pub ratio: Option<u32>,
    /// `ratio_state == "over"` (kept for older views).
    pub over_ratio: bool,
    /// "ok" | "near" | "over" (domain::ratios).
    pub ratio_state: String,
    /// "7 in · 2 staff · 1:6"
    pub summary: String,
    /// Children here after the end of today's schedule.
    pub late_pickups: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosterRow {
    pub id: String,
    pub name: String,
    pub initials: String,
    pub present: bool,
    pub since: Option<String>,
    pub selected: bool,
    /// Here after the end of today's scheduled block.
    pub late_pickup: bool,
    /// Here at a time outside their schedule.
    pub unscheduled: bool,
    /// The two flags above in words, for the row's badges.
    pub flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoomRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ManualSync {
    pub allowed: bool,
    /// "10:42" when not allowed yet.
    pub next_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollCallRoom {
    /// `None` for staff with no primary room.
    pub room_id: Option<String>,
    pub room_name: String,
    pub people: Vec<RollCallPerson>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollCallPerson {
    /// Tap `account:<id>` to tick or untick.
    pub id: String,
    pub name: String,
    pub initials: String,
    /// "child" | "staff"
    pub who: String,
    pub room_name: String,
    pub accounted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParkedRow {
    /// `retry:<event_id>`, `dismiss:<event_id>`
    pub event_id: String,
    /// "Check-in · Alex R. · Toddlers · 8:32" (no health details)
    pub what: String,
    /// Why the hub refused it, in plain words.
    pub reason: String,
    /// Local time it was refused ("8:40"), when known.
    pub parked_at: Option<String>,
    /// `dismiss:<event_id>` was tapped once; the next tap dismisses.
    pub confirm_dismiss: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// Local time of the sync ("8:10", or "Nov 22 8:10" on another day).
    pub at: String,
    /// True when the sync worked (it may still have records to fix).
    pub ok: bool,
    /// Worked with nothing to fix, worked with records to fix, or failed.
    pub state: ReportState,
    /// "Full sync" / "Changes only" (empty for a failed sync).
    pub kind: String,
    /// "12 added · 3 updated · 1 archived", or why the sync failed.
    pub text: String,
    /// "2 records to fix in the management system" lines follow in `problems`.
    pub problems_text: Option<String>,
    pub problems: Vec<String>,
}

/// How a sync went, for its colour and words on the sync screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    Ok,
    ToFix,
    Failed,
}

impl ReportState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportState::Ok => "ok",
            ReportState::ToFix => "to_fix",
            ReportState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LetterTab {
    /// Tap `letter:<letter>`.
    pub letter: String,
    pub count: usize,
    pub selected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonRow {
    /// Tap `person:<id>` (a person id, or a staff id for staff).
    pub id: String,
    pub name: String,
    pub initials: String,
    /// "guardian" | "pickup" | "staff"
    pub kind: String,
    pub kind_text: String,
    pub fingers: usize,
    pub fingers_text: String,
    pub selected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnrollView {
    /// "starting" | "place" | "lift" | "saved" | "deleting" | "deleted" | "failed"
    pub state: String,
    /// "Place your finger (2 of 3)", "Lift your finger", "Saved", the failure reason…
    pub text: String,
    /// The reader is working: other fingerprint taps are ignored.
    pub busy: bool,
}
