//! Schedules: which room a child belongs in at a given local time, whether a check-in
//! is unscheduled and whether a check-out is a late pick-up. Pure; local time is given.

use chrono::{Datelike, NaiveDateTime, NaiveTime, Weekday};

/// One parsed schedule block of a child.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub days: Vec<Weekday>,
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub room_id: Option<String>,
}

impl Block {
    /// Does this block cover `at` (from inclusive, to exclusive)?
    pub fn covers(&self, at: NaiveDateTime) -> bool {
        self.days.contains(&at.weekday()) && at.time() >= self.from && at.time() < self.to
    }
}

/// "HH:MM" (24 h) → time.
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// "mon" … "sun" (also full English names, any case) → weekday.
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let s = s.trim().to_ascii_lowercase();
    Some(match s.get(..3)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// Where a check-in at `at` puts the child: a covering block's room when it names one
/// other than the primary room, else the primary room. Returns the room and the block
/// that decided it (for the screen and the event: "which room and why").
pub fn room_for_check_in<'a>(
    primary_room: &'a str,
    blocks: &'a [Block],
    at: NaiveDateTime,
) -> (&'a str, Option<&'a Block>) {
    for b in blocks {
        if b.covers(at) {
            if let Some(room) = b.room_id.as_deref() {
                if room != primary_room {
                    return (room, Some(b));
                }
            }
        }
    }
    (primary_room, None)
}

/// A child with a schedule checked in outside every block of it.
pub fn is_unscheduled(blocks: &[Block], at: NaiveDateTime) -> bool {
    !blocks.is_empty() && !blocks.iter().any(|b| b.covers(at))
}

/// A check-out after the end of the child's last scheduled block of that day.
pub fn is_late_pickup(blocks: &[Block], at: NaiveDateTime) -> bool {
    let today: Vec<&Block> = blocks
        .iter()
        .filter(|b| b.days.contains(&at.weekday()))
        .collect();
    if today.is_empty() || today.iter().any(|b| b.covers(at)) {
        return false;
    }
    today
        .iter()
        .map(|b| b.to)
        .max()
        .is_some_and(|end| at.time() >= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(h: u32, m: u32) -> NaiveDateTime {
        // 2026-11-23 is a Monday.
        NaiveDate::from_ymd_opt(2026, 11, 23)
            .unwrap()
            .and_hms_opt(h, m, 0)
            .unwrap()
    }

    fn afternoon_in_prek() -> Vec<Block> {
        vec![Block {
            days: vec![Weekday::Mon, Weekday::Tue],
            from: parse_hhmm("12:00").unwrap(),
            to: parse_hhmm("18:00").unwrap(),
            room_id: Some("room_prek".into()),
        }]
    }

    #[test]
    fn check_in_during_block_for_other_room_goes_there() {
        let blocks = afternoon_in_prek();
        let (room, why) = room_for_check_in("room_toddlers", &blocks, at(12, 5));
        assert_eq!(room, "room_prek");
        assert!(why.is_some());
    }

    #[test]
    fn check_in_outside_block_goes_to_primary_room() {
        let blocks = afternoon_in_prek();
        assert_eq!(
            room_for_check_in("room_toddlers", &blocks, at(11, 59)).0,
            "room_toddlers"
        );
        assert_eq!(
            room_for_check_in("room_toddlers", &blocks, at(18, 0)).0,
            "room_toddlers"
        );
    }

    #[test]
    fn unscheduled_only_for_children_with_a_schedule() {
        let blocks = afternoon_in_prek();
        assert!(is_unscheduled(&blocks, at(8, 0)));
        assert!(!is_unscheduled(&blocks, at(13, 0)));
        assert!(!is_unscheduled(&[], at(8, 0)));
    }

    #[test]
    fn late_pickup_at_and_after_block_end() {
        let blocks = afternoon_in_prek();
        assert!(!is_late_pickup(&blocks, at(17, 59)));
        assert!(is_late_pickup(&blocks, at(18, 0)));
        assert!(
            !is_late_pickup(&blocks, at(9, 0)),
            "before the block is not late"
        );
    }

    #[test]
    fn weekday_and_time_parsing() {
        assert_eq!(parse_weekday("Thursday"), Some(Weekday::Thu));
        assert_eq!(parse_weekday("xyz"), None);
        assert_eq!(parse_hhmm("7:30"), NaiveTime::from_hms_opt(7, 30, 0));
        assert_eq!(parse_hhmm("25:00"), None);
    }
}
