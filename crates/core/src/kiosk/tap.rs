//! The elements a person can tap on the door, as one type. Owns the element ids of the
//! touch UI and the headless protocol (`docs/headless.md`): [`Tap::parse`] reads an id
//! once at the edge (the window's `Door.tap(id)`, a headless `{"tap": …}` line), and
//! [`Tap`]'s `Display` writes it back. The state machine matches on the variants, never on
//! the text, so an id the UI sends and the kiosk ignores cannot go unnoticed.

use std::fmt;

use super::i18n::Lang;

/// Longest record id an element id may carry (child, room, person, event ids).
pub const MAX_ID_LEN: usize = 128;

/// One tap on an element of the door's screens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tap {
    /// `start`: opens the keypad.
    Start,
    /// `staff`: opens the keypad too (the staff button on the home screen).
    Staff,
    /// `digit_0` … `digit_9`: a keypad digit (on home it opens the keypad with it).
    Digit(char),
    Backspace,
    Clear,
    Ok,
    Back,
    Cancel,
    /// `home`: the done and message screens' "back to start".
    Home,
    /// `done`, `exit`: the staff session or the roll call ends.
    Done,
    Exit,
    /// `lang:en`, `lang:es`: the language of this transaction.
    Lang(Lang),
    /// `child:<child_id>`: select or unselect a child.
    Child(String),
    CheckIn,
    CheckOut,
    /// `room:<room_id>`: open a room on the staff screen.
    Room(String),
    /// `transfer:<room_id>`: move the selected children there.
    Transfer(String),
    ClockIn,
    ClockOut,
    SyncNow,
    RollCall,
    SyncErrors,
    Device,
    LiftLockout,
    /// `select_present` (also `select_all`) and `select_absent`: one group of the room.
    SelectPresent,
    SelectAbsent,
    /// `account:<id>`: tick or untick a child or staff member in the roll call.
    Account(String),
    FinishRollCall,
    /// `retry:<event_id>`, `dismiss:<event_id>`: a parked event on the sync-errors screen.
    Retry(String),
    Dismiss(String),
    /// `letter:<A-Z>`: the device screen's people under one letter.
    Letter(char),
    PagePrev,
    PageNext,
    /// `person:<id>`: the person whose fingers the device screen handles.
    Person(String),
    Consent,
    EnrollFinger,
    DeleteFingers,
}

/// Why an element id was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapError {
    #[error("no element has the id `{0}` (see docs/headless.md for the ids)")]
    Unknown(String),
    #[error("`{0}` needs a value after the colon, e.g. `child:child_a`")]
    Empty(&'static str),
    #[error("the id after `{0}` is longer than {MAX_ID_LEN} characters")]
    TooLong(&'static str),
}

impl Tap {
    /// Read an element id. The text of an unknown id is shortened and cleaned for the
    /// error (it may go to a log line or back to a headless client).
    pub fn parse(id: &str) -> Result<Tap, TapError> {
        let plain = match id {
            "start" => Some(Tap::Start),
            "staff" => Some(Tap::Staff),
            "backspace" => Some(Tap::Backspace),
            "clear" => Some(Tap::Clear),
            "ok" => Some(Tap::Ok),
            "back" => Some(Tap::Back),
            "cancel" => Some(Tap::Cancel),
            "home" => Some(Tap::Home),
            "done" => Some(Tap::Done),
            "exit" => Some(Tap::Exit),
            "check_in" => Some(Tap::CheckIn),
            "check_out" => Some(Tap::CheckOut),
            "clock_in" => Some(Tap::ClockIn),
            "clock_out" => Some(Tap::ClockOut),
            "sync_now" => Some(Tap::SyncNow),
            "roll_call" => Some(Tap::RollCall),
            "sync_errors" => Some(Tap::SyncErrors),
            "device" => Some(Tap::Device),
            "lift_lockout" => Some(Tap::LiftLockout),
            "select_present" | "select_all" => Some(Tap::SelectPresent),
            "select_absent" => Some(Tap::SelectAbsent),
            "finish_roll_call" => Some(Tap::FinishRollCall),
            "page_prev" => Some(Tap::PagePrev),
            "page_next" => Some(Tap::PageNext),
            "consent" => Some(Tap::Consent),
            "enroll_finger" => Some(Tap::EnrollFinger),
            "delete_fingers" => Some(Tap::DeleteFingers),
            _ => None,
        };
        if let Some(tap) = plain {
            return Ok(tap);
        }
        let unknown = || TapError::Unknown(crate::sanitize::clean(id, 40));
        if let Some(d) = id.strip_prefix("digit_") {
            let mut chars = d.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_digit() => Ok(Tap::Digit(c)),
                _ => Err(unknown()),
            };
        }
        if let Some(l) = id.strip_prefix("lang:") {
            return Lang::parse(l).map(Tap::Lang).ok_or_else(unknown);
        }
        if let Some(l) = id.strip_prefix("letter:") {
            let mut chars = l.chars();
            return match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_alphabetic() => {
                    Ok(Tap::Letter(c.to_uppercase().next().unwrap_or(c)))
                }
                _ => Err(unknown()),
            };
        }
        type Make = fn(String) -> Tap;
        let with_id: [(&'static str, Make); 7] = [
            ("child:", Tap::Child),
            ("room:", Tap::Room),
            ("transfer:", Tap::Transfer),
            ("account:", Tap::Account),
            ("retry:", Tap::Retry),
            ("dismiss:", Tap::Dismiss),
            ("person:", Tap::Person),
        ];
        for (prefix, make) in with_id {
            if let Some(rest) = id.strip_prefix(prefix) {
                if rest.is_empty() {
                    return Err(TapError::Empty(prefix));
                }
                if rest.chars().count() > MAX_ID_LEN {
                    return Err(TapError::TooLong(prefix));
                }
                return Ok(make(rest.to_string()));
            }
        }
        Err(unknown())
    }
}

impl fmt::Display for Tap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self {
            Tap::Start => "start",
            Tap::Staff => "staff",
            Tap::Backspace => "backspace",
            Tap::Clear => "clear",
            Tap::Ok => "ok",
            Tap::Back => "back",
            Tap::Cancel => "cancel",
            Tap::Home => "home",
            Tap::Done => "done",
            Tap::Exit => "exit",
            Tap::CheckIn => "check_in",
            Tap::CheckOut => "check_out",
            Tap::ClockIn => "clock_in",
            Tap::ClockOut => "clock_out",
            Tap::SyncNow => "sync_now",
            Tap::RollCall => "roll_call",
            Tap::SyncErrors => "sync_errors",
            Tap::Device => "device",
            Tap::LiftLockout => "lift_lockout",
            Tap::SelectPresent => "select_present",
            Tap::SelectAbsent => "select_absent",
            Tap::FinishRollCall => "finish_roll_call",
            Tap::PagePrev => "page_prev",
            Tap::PageNext => "page_next",
            Tap::Consent => "consent",
            Tap::EnrollFinger => "enroll_finger",
            Tap::DeleteFingers => "delete_fingers",
            Tap::Digit(d) => return write!(f, "digit_{d}"),
            Tap::Lang(l) => return write!(f, "lang:{}", l.as_str()),
            Tap::Letter(c) => return write!(f, "letter:{c}"),
            Tap::Child(id) => return write!(f, "child:{id}"),
            Tap::Room(id) => return write!(f, "room:{id}"),
            Tap::Transfer(id) => return write!(f, "transfer:{id}"),
            Tap::Account(id) => return write!(f, "account:{id}"),
            Tap::Retry(id) => return write!(f, "retry:{id}"),
            Tap::Dismiss(id) => return write!(f, "dismiss:{id}"),
            Tap::Person(id) => return write!(f, "person:{id}"),
        };
        f.write_str(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_reads_back_as_itself() {
        let ids = [
            "start",
            "staff",
            "digit_0",
            "digit_9",
            "backspace",
            "clear",
            "ok",
            "back",
            "cancel",
            "home",
            "done",
            "exit",
            "lang:en",
            "lang:es",
            "child:child_a",
            "check_in",
            "check_out",
            "room:room_toddlers",
            "transfer:room_prek",
            "clock_in",
            "clock_out",
            "sync_now",
            "roll_call",
            "sync_errors",
            "device",
            "lift_lockout",
            "select_present",
            "select_absent",
            "account:staff_lee",
            "finish_roll_call",
            "retry:ev-1",
            "dismiss:ev-1",
            "letter:D",
            "page_prev",
            "page_next",
            "person:p_dana",
            "consent",
            "enroll_finger",
            "delete_fingers",
        ];
        for id in ids {
            let tap = Tap::parse(id).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(tap.to_string(), id);
        }
        assert_eq!(Tap::parse("select_all"), Ok(Tap::SelectPresent));
        assert_eq!(Tap::parse("letter:d"), Ok(Tap::Letter('D')));
        assert_eq!(Tap::parse("digit_7"), Ok(Tap::Digit('7')));
    }

    #[test]
    fn ids_outside_the_list_are_refused_with_a_clean_reason() {
        for bad in [
            "",
            "digit_",
            "digit_12",
            "digit_x",
            "lang:fr",
            "letter:",
            "letter:ab",
        ] {
            assert!(
                matches!(Tap::parse(bad), Err(TapError::Unknown(_))),
                "{bad:?}"
            );
        }
        assert_eq!(Tap::parse("child:"), Err(TapError::Empty("child:")));
        let long = format!("room:{}", "r".repeat(MAX_ID_LEN + 1));
        assert_eq!(Tap::parse(&long), Err(TapError::TooLong("room:")));
        let Err(e) = Tap::parse("chec\u{1b}[2Jk_in") else {
            panic!("accepted")
        };
        let said = e.to_string();
        assert!(!said.contains('\u{1b}'), "{said:?}");
        assert!(said.contains("docs/headless.md"), "{said}");
    }
}
