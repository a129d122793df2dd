//! What a view draws: one [`Frame`] is the screen, the status bar and the door's language.
//! The kiosk task builds frames; the touch UI and the headless protocol only draw them.

use serde::Serialize;

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

/// What [`Screen::NeedsTechnician`] says: the start-up problem in words for the door.
pub fn technician_text(reason: &str) -> String {
    format!(
        "This door needs a technician: {reason}. Nothing is recorded here until it is \
         fixed: please use the paper sign-in sheet."
    )
}
