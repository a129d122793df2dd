//! What a view draws: one [`Frame`] is the screen, the status bar and the door's language.
//! The kiosk task builds frames; the touch UI and the headless protocol only draw them.

use serde::Serialize;

use super::i18n::{Lang, Msg};
use super::screen::Screen;

/// What a view draws: the screen plus the status bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Frame {
    #[serde(flatten)]
    pub screen: Screen,
    pub status: StatusBar,
    /// The door's language right now, "en" or "es" (`Kiosk::lang`): the view's static
    /// labels follow it.
    pub lang: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatusBar {
    pub online: bool,
    /// Events waiting to be sent.
    pub queue: u64,
    /// Events the hub rejected, waiting for staff.
    pub parked: u64,
    /// "3 waiting to send", empty when nothing waits.
    pub queue_text: String,
    /// Local time of the last roster sync ("8:10").
    pub last_sync: Option<String>,
    /// The hub refused this device's token: staff must re-provision it.
    pub needs_reprovision: bool,
    pub clock_synced: bool,
}

/// What [`Screen::NeedsTechnician`] says in `lang`: the start-up problem (`reason`, the
/// technician's detail, as it is) in a sentence in the door's language.
pub fn technician_text(lang: Lang, reason: &str) -> String {
    Msg::NeedsTechnician { reason }.text(lang)
}

impl Frame {
    /// The door's language of this frame (English when `lang` is not one it knows).
    pub fn language(&self) -> Lang {
        Lang::parse(&self.lang).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_technician_sentence_follows_the_frame_language() {
        let frame = |lang: &str| Frame {
            screen: Screen::NeedsTechnician {
                reason: "the disk is read-only".into(),
            },
            status: StatusBar::default(),
            lang: lang.into(),
        };
        let es = technician_text(frame("es").language(), "the disk is read-only");
        assert!(
            es.starts_with("Esta puerta necesita un técnico: the disk is read-only."),
            "{es}"
        );
        let en = technician_text(frame("en").language(), "the disk is read-only");
        assert!(
            en.starts_with("This door needs a technician: the disk is read-only."),
            "{en}"
        );
        assert_eq!(frame("fr").language(), Lang::En);
    }
}
