//! Why a background job of the door failed, as the screens say it: one type for the
//! roster sync, the upload, the other doors' feed, the heartbeat and the door's own
//! disk. The runtime classifies each failure once ([`Trouble`]); the words, in English
//! and Spanish, live in `i18n` beside every other word the door shows. The technical text
//! (HTTP status, OS error) still goes to the journal, `cubby status` and the heartbeat.

use serde::{Deserialize, Serialize};

/// One failure of a background job, in the terms staff can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trouble {
    /// No answer from the hub: the network or the hub is down.
    HubUnreachable,
    /// The hub answered that it is busy or unavailable (HTTP 408, 429, 5xx).
    HubBusy { status: u16 },
    /// The hub refused this door's token: the door must be enrolled again.
    Revoked,
    /// The hub refused the request itself (another 4xx).
    HubRefused { status: u16 },
    /// The hub's answer could not be used (not the contract's shape, too large).
    BadAnswer,
    /// The hub sent a roster the door refused; the previous roster stays in use.
    RosterRefused,
    /// Events from the hub's feed could not be read and were skipped.
    FeedDamaged { skipped: u64 },
    /// This door could not write to its own storage.
    Disk,
}

/// The last failure of each background job, `None` when it works.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopTroubles {
    pub upload: Option<Trouble>,
    pub roster: Option<Trouble>,
    pub peers: Option<Trouble>,
    pub heartbeat: Option<Trouble>,
    pub disk: Option<Trouble>,
}

impl LoopTroubles {
    /// Every job works.
    pub const NONE: LoopTroubles = LoopTroubles {
        upload: None,
        roster: None,
        peers: None,
        heartbeat: None,
        disk: None,
    };
}
