//! The view model: what the door shows, as plain serialisable data. The Slint UI and
//! the headless JSON protocol are both views of this; neither holds business logic.

use serde::Serialize;

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
    },
    StaffRoom {
        room_id: String,
        room_name: String,
        children: Vec<RosterRow>,
        selected: usize,
        check_in_count: usize,
        check_out_count: usize,
        transfer_to: Vec<RoomRef>,
        notice: Option<String>,
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
    pub over_ratio: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RosterRow {
    pub id: String,
    pub name: String,
    pub initials: String,
    pub present: bool,
    pub since: Option<String>,
    pub selected: bool,
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
