//! The sync report: what a roster sync changed, per kind, and one line per skipped or
//! archived record with its reason, so a director knows what to fix upstream.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::eligibility::{Kind, Note, Verdict};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub added: u32,
    pub updated: u32,
    pub archived: u32,
    pub unchanged: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    pub at: DateTime<Utc>,
    pub cursor: String,
    pub full: bool,
    pub counts: BTreeMap<Kind, Counts>,
    /// "Alex Rivera (child child_789): no primary room in the management system"
    pub lines: Vec<String>,
}

/// What the kiosk remembered of a record after the previous sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrevState {
    pub active: bool,
    pub hash: String,
    pub name: String,
    /// Why it was not active.
    #[serde(default)]
    pub reason: Option<String>,
}

impl PrevState {
    /// What a verdict leaves to be remembered.
    pub fn of(v: &Verdict) -> PrevState {
        PrevState {
            active: v.active,
            hash: v.hash.clone(),
            name: v.name.clone(),
            reason: v.reason.clone(),
        }
    }

    /// Whether `v` is what this state remembers.
    pub fn is(&self, v: &Verdict) -> bool {
        self.active == v.active
            && self.hash == v.hash
            && self.name == v.name
            && self.reason == v.reason
    }
}

/// Compare the previous states with the new verdicts.
///
/// - new and active → added; new and inactive → archived (skipped from the start)
/// - active before, inactive now → archived; inactive before, active now → added
/// - same activity: same content → unchanged, else updated
/// - gone from the roster → archived ("removed from the management system")
pub fn build_report<'v>(
    at: DateTime<Utc>,
    cursor: &str,
    full: bool,
    prev: &HashMap<(Kind, String), PrevState>,
    verdicts: impl IntoIterator<Item = &'v Verdict>,
    notes: &[Note],
) -> SyncReport {
    let mut counts: BTreeMap<Kind, Counts> = BTreeMap::new();
    for k in [Kind::Room, Kind::Staff, Kind::Person, Kind::Child] {
        counts.insert(k, Counts::default());
    }
    let mut lines = Vec::new();
    let verdicts: Vec<&Verdict> = verdicts.into_iter().collect();
    let mut remembered = 0;
    for v in &verdicts {
        let c = counts.entry(v.kind).or_default();
        let was = prev.get(&(v.kind, v.id.clone()));
        remembered += usize::from(was.is_some());
        match was {
            None if v.active => c.added += 1,
            None => c.archived += 1,
            Some(p) if p.active && !v.active => c.archived += 1,
            Some(p) if !p.active && v.active => c.added += 1,
            Some(p) if p.hash == v.hash => c.unchanged += 1,
            Some(_) => c.updated += 1,
        }
        if let Some(reason) = &v.reason {
            lines.push(format!(
                "{} ({} {}): {reason}",
                v.name,
                v.kind.as_str(),
                v.id
            ));
        }
    }
    // Records remembered that no verdict speaks of: looked for only when there are some.
    let mut gone: Vec<(&(Kind, String), &PrevState)> = if remembered < prev.len() {
        let seen: std::collections::HashSet<(Kind, &str)> =
            verdicts.iter().map(|v| (v.kind, v.id.as_str())).collect();
        prev.iter()
            .filter(|((kind, id), _)| !seen.contains(&(*kind, id.as_str())))
            .collect()
    } else {
        Vec::new()
    };
    gone.sort_by(|a, b| a.0.cmp(b.0));
    for ((kind, id), p) in gone {
        if p.active {
            counts.entry(*kind).or_default().archived += 1;
        }
        lines.push(format!(
            "{} ({} {id}): removed from the management system",
            p.name,
            kind.as_str()
        ));
    }
    lines.extend(notes.iter().cloned());
    SyncReport {
        at,
        cursor: cursor.to_string(),
        full,
        counts,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: &str, active: bool, hash: &str) -> Verdict {
        Verdict {
            kind: Kind::Child,
            id: id.into(),
            name: format!("Kid {id}"),
            active,
            reason: (!active).then(|| "enrollment status is \"withdrawn\", not enrolled".into()),
            hash: hash.into(),
        }
    }

    fn p(active: bool, hash: &str) -> PrevState {
        PrevState {
            active,
            hash: hash.into(),
            name: "Old Kid".into(),
            reason: None,
        }
    }

    #[test]
    fn counts_each_transition() {
        let mut prev = HashMap::new();
        prev.insert((Kind::Child, "same".into()), p(true, "h1"));
        prev.insert((Kind::Child, "changed".into()), p(true, "h1"));
        prev.insert((Kind::Child, "leaving".into()), p(true, "h1"));
        prev.insert((Kind::Child, "gone".into()), p(true, "h1"));
        let verdicts = vec![
            v("same", true, "h1"),
            v("changed", true, "h2"),
            v("leaving", false, "h1"),
            v("new", true, "h9"),
        ];
        let r = build_report(Utc::now(), "r_2", false, &prev, &verdicts, &[]);
        let c = r.counts[&Kind::Child];
        assert_eq!(
            c,
            Counts {
                added: 1,
                updated: 1,
                archived: 2,
                unchanged: 1
            }
        );
        assert!(r
            .lines
            .iter()
            .any(|l| l.starts_with("Kid leaving (child leaving): enrollment status")));
        assert!(r
            .lines
            .iter()
            .any(|l| l == "Old Kid (child gone): removed from the management system"));
    }

    #[test]
    fn notes_are_appended_as_lines() {
        let r = build_report(
            Utc::now(),
            "r_1",
            true,
            &HashMap::new(),
            &[],
            &["a note".into()],
        );
        assert_eq!(r.lines, vec!["a note".to_string()]);
        assert_eq!(r.counts.len(), 4, "every kind has counts even when zero");
    }
}
