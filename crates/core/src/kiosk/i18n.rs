//! Every word the kiosk shows, in English and Spanish: one catalog, one `match`.
//!
//! The state machine never writes user-facing text itself; it builds a [`Msg`] and asks
//! [`Msg::text`] for the words in the current [`Lang`]. Names (children, rooms, staff)
//! come from the roster and are never translated. The Spanish is what someone at a
//! daycare door would say: short, polite (usted), gender-neutral where it can be.

use serde::Serialize;

use super::{EnrollFailure, Hardware, HardwareDetail, HardwareState, ProvisionError, Trouble};

/// The language of the door's words.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    #[default]
    En,
    Es,
}

impl Lang {
    /// `"en"` / `"es"`, as in the config file, the `lang:` taps and `Frame.lang`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }
}

/// One thing the kiosk says. Parameters are already formatted ("8:32", "Toddlers").
#[derive(Debug, Clone, PartialEq)]
pub enum Msg<'a> {
    // ------------------------------------------------------------ home and door
    GoodMorning,
    GoodAfternoon,
    GoodEvening,
    FingerprintUnknown,
    QrInvalid,
    NotSaved,
    ChooseChildOut,
    ChooseChildIn,
    NoChildren,
    StaffPinInactive,
    /// The PIN of an archived guardian or pickup.
    PersonPinInactive,
    KeypadLocked {
        secs: u64,
    },
    TooManyTries {
        secs: i64,
    },
    PinNoMatch,
    /// OK with fewer than 4 digits: not a guess, just not finished.
    PinIncomplete,
    /// A genuine QR code that has run out.
    QrExpired,
    /// Staff tried to lift the lock after coming in by PIN.
    UnlockWithBadge,
    Hi {
        name: &'a str,
    },
    InSince {
        time: &'a str,
    },
    NotHere,
    CantPickUp {
        who: &'a str,
        child: &'a str,
    },
    /// The same refusal for a child who is not here: dropping off, not picking up.
    CantDropOff {
        who: &'a str,
        child: &'a str,
    },
    CheckedIn {
        child: &'a str,
        room: &'a str,
    },
    /// Appended to `CheckedIn` when the schedule chose the room.
    ScheduledThere {
        from: &'a str,
        to: &'a str,
    },
    CheckedOut {
        child: &'a str,
    },
    Moved {
        child: &'a str,
        room: &'a str,
    },
    /// A confirmation line with its time: "Alex is checked in to Toddlers — 8:32".
    WithTime {
        line: &'a str,
        time: &'a str,
    },
    // ------------------------------------------------------------ staff
    ClockedIn {
        name: &'a str,
    },
    ClockedOut {
        name: &'a str,
    },
    AlreadyClockedIn,
    NotClockedIn,
    SyncTooSoon {
        at: Option<&'a str>,
    },
    Syncing,
    /// A manual roster sync finished at `time` with this many records changed.
    ManualSyncDone {
        time: &'a str,
        changed: u32,
        to_fix: usize,
    },
    /// A manual roster sync failed at `time`.
    ManualSyncFailed {
        time: &'a str,
        error: &'a str,
    },
    /// More than a few children in one check-in: tap again to confirm.
    ConfirmBatchCheckIn {
        n: usize,
    },
    BatchCheckedIn {
        n: usize,
    },
    BatchCheckedOut {
        n: usize,
    },
    BatchMoved {
        n: usize,
        room: &'a str,
    },
    /// The hub refused this door's token: it records, but nothing reaches the hub.
    AlertRevoked,
    /// The device screen's words for a revoked door: what it means and what to do.
    DeviceRevoked,
    KeypadUnlocked,
    SelectChildrenFirst,
    SelectPresentToMove,
    DeviceRefused,
    RoomSummary {
        present: usize,
        staff: usize,
        ratio: Option<u32>,
    },
    FlagLatePickup,
    FlagUnscheduled,
    AlertNotAuthorized {
        time: &'a str,
        who: &'a str,
        child: &'a str,
    },
    AlertLatePickup {
        child: &'a str,
        room: &'a str,
        until: &'a str,
    },
    AlertUnscheduled {
        child: &'a str,
        room: &'a str,
    },
    AlertFingerprintFault,
    AlertHardware {
        name: &'a str,
        detail: &'a str,
    },
    AlertParked {
        n: usize,
    },
    AlertLockout {
        time: &'a str,
        secs: i64,
    },
    AlertKeypadLocked {
        until: &'a str,
    },
    // ------------------------------------------------------------ enrollment confirmation
    EnrollTypePin {
        name: &'a str,
    },
    EnrollPinWrong {
        name: &'a str,
    },
    EnrollNoPin {
        name: &'a str,
    },
    // ------------------------------------------------------------ roll call
    Unassigned,
    RollCallProgress {
        accounted: usize,
        total: usize,
    },
    RollCallAllAccounted {
        total: usize,
    },
    RollCallMissing {
        missing: usize,
        total: usize,
    },
    RollCallEmpty,
    // ------------------------------------------------------------ sync errors
    KindCheckIn,
    KindCheckOut,
    KindTransfer,
    KindClockIn,
    KindClockOut,
    ReasonUnknownChild,
    ReasonUnknownStaff,
    ReasonUnknownDevice,
    ReasonMissingData,
    ReasonOther {
        reason: &'a str,
    },
    ConfirmDismiss,
    WillRetry,
    Dismissed,
    NoLongerParked,
    ReportCounts {
        added: u32,
        updated: u32,
        archived: u32,
    },
    ReportOk,
    ReportProblems {
        n: usize,
    },
    ReportFull,
    ReportChanges,
    SyncFailed {
        error: &'a str,
    },
    /// A background loop is failing: `what` is `upload`, `roster`, `peers`,
    /// `heartbeat` or `disk` (`sync::health::Loop`).
    LoopFailed {
        what: &'a str,
        error: &'a str,
    },
    /// Why a background job failed, in words staff can act on.
    Trouble(&'a Trouble),
    /// Why this door could not be enrolled (provisioning screen, `cubby provision`).
    Provision(&'a ProvisionError),
    /// The device screen's hardware lines.
    HardwareName(Hardware),
    HardwareState(HardwareState),
    HardwareDetail(&'a HardwareDetail),
    // ------------------------------------------------------------ device
    ClockSynced,
    ClockNotSynced,
    Queue {
        depth: u64,
        parked: usize,
    },
    /// The status bar's "3 waiting to send" (only shown when something waits).
    Waiting {
        n: u64,
    },
    NoAddress,
    PersonGuardian,
    PersonPickup,
    PersonStaff,
    Fingers {
        n: usize,
    },
    ConsentText,
    ConsentFirst,
    ChoosePersonFirst,
    ConfirmDelete {
        name: &'a str,
    },
    EnrollStarting,
    DeleteStarting,
    PlaceFinger {
        capture: u8,
        of: u8,
    },
    LiftFinger,
    EnrollSaved,
    FingersDeleted {
        n: usize,
    },
    EnrollFailed {
        reason: EnrollFailure,
    },
    NothingToDelete,
    // ------------------------------------------------------------ start-up
    /// The door cannot record (`Screen::NeedsTechnician`): `reason` is the technician's
    /// detail, shown as it is.
    NeedsTechnician {
        reason: &'a str,
    },
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// "a las 8:02", "a la 1:05" — Spanish says "la" for one o'clock.
fn es_hour(time: &str) -> &'static str {
    if time.starts_with("1:") {
        "la"
    } else {
        "las"
    }
}

impl Msg<'_> {
    /// The words for this message in `lang`.
    pub fn text(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.en(),
            Lang::Es => self.es(),
        }
    }

    fn en(&self) -> String {
        use Msg::*;
        match self {
            GoodMorning => "Good morning!".into(),
            GoodAfternoon => "Good afternoon!".into(),
            GoodEvening => "Good evening!".into(),
            FingerprintUnknown => "Fingerprint not recognized. Please use your PIN.".into(),
            QrInvalid => "This code can't be used here. Please use your PIN.".into(),
            NotSaved => {
                "That didn't save. Nothing was recorded — please try again or see the front desk."
                    .into()
            }
            ChooseChildOut => "Choose a child who is here to check out.".into(),
            ChooseChildIn => "Choose a child who is not here yet to check in.".into(),
            NoChildren => {
                "We couldn't find any children for you today. Please see the front desk.".into()
            }
            StaffPinInactive => "This staff PIN is not active. Please see the director.".into(),
            PersonPinInactive => "This PIN is no longer active. Please see the front desk.".into(),
            KeypadLocked { secs } => format!("Keypad locked. Try again in {secs} s."),
            TooManyTries { secs } => format!("Too many tries. Keypad locked for {secs} s."),
            PinNoMatch => "That PIN didn't match. Please try again.".into(),
            PinIncomplete => "Type your whole PIN (4 to 8 digits), then OK.".into(),
            QrExpired => {
                "This code has expired. Open the app for a new code, or use your PIN.".into()
            }
            UnlockWithBadge => "Unlock the keypad with your staff badge or fingerprint.".into(),
            AlertLockout { time, secs } => {
                format!("{time} Keypad locked for {secs} s after repeated wrong PINs")
            }
            AlertKeypadLocked { until } => {
                format!("The keypad is locked until {until}: scan your badge or fingerprint to unlock it")
            }
            EnrollTypePin { name } => {
                format!("{name}, please type your own PIN to confirm it's you.")
            }
            EnrollPinWrong { name } => {
                format!(
                    "That isn't {name}'s PIN. A fingerprint is only saved with the person here."
                )
            }
            EnrollNoPin { name } => {
                format!(
                    "{name} has no PIN yet. Ask the center to set one before saving a fingerprint."
                )
            }
            Hi { name } => format!("Hi {name}!"),
            InSince { time } => format!("In since {time}"),
            NotHere => "Not here".into(),
            CantPickUp { who, child } => {
                format!("{who} can't pick up {child} — please see the front desk")
            }
            CantDropOff { who, child } => {
                format!("{who} can't check in {child} — please see the front desk")
            }
            CheckedIn { child, room } => format!("{child} is checked in to {room}"),
            ScheduledThere { from, to } => format!(" (scheduled there {from}–{to})"),
            CheckedOut { child } => format!("{child} is checked out"),
            Moved { child, room } => format!("{child} moved to {room}"),
            WithTime { line, time } => format!("{line} — {time}"),
            ClockedIn { name } => format!("{name} is clocked in"),
            ClockedOut { name } => format!("{name} is clocked out"),
            AlreadyClockedIn => "You are already clocked in.".into(),
            NotClockedIn => "You are not clocked in.".into(),
            SyncTooSoon { at: Some(at) } => {
                format!("A sync ran recently; the next one is allowed at {at}.")
            }
            SyncTooSoon { at: None } => {
                "A sync ran recently; the next one is allowed later.".into()
            }
            Syncing => "Syncing the roster…".into(),
            ManualSyncDone {
                time,
                changed: 0,
                to_fix: 0,
            } => format!("Roster synced at {time}: no changes."),
            ManualSyncDone {
                time,
                changed,
                to_fix,
            } => {
                let mut text = format!(
                    "Roster synced at {time}: {}",
                    plural(*changed as usize, "change", "changes")
                );
                if *to_fix > 0 {
                    text.push_str(&format!(", {to_fix} to fix (see Sync)"));
                }
                text.push('.');
                text
            }
            ManualSyncFailed { time, error } => {
                format!("Sync at {time} failed: {error}. The door keeps working.")
            }
            ConfirmBatchCheckIn { n } => {
                format!("Check in {n} children? Tap “Check in {n}” again to confirm.")
            }
            BatchCheckedIn { n } => format!("{n} children checked in"),
            BatchCheckedOut { n } => format!("{n} children checked out"),
            BatchMoved { n, room } => format!("{n} children moved to {room}"),
            AlertRevoked => "The hub no longer accepts this door: check-ins are kept here but not sent. A technician must enroll it again (Device).".into(),
            DeviceRevoked => "The hub refused this door's token (revoked or replaced). Attendance is still recorded and kept on this door. To send it: create an enrollment code on the hub, then run `cubby provision` again with it on this door (docs/technician.md, re-provisioning).".into(),
            KeypadUnlocked => "The keypad is unlocked.".into(),
            SelectChildrenFirst => "Select children first.".into(),
            SelectPresentToMove => "Select children who are here to move them.".into(),
            DeviceRefused => "Only a director or administrator can open the device screen.".into(),
            RoomSummary {
                present,
                staff,
                ratio,
            } => {
                let base = format!("{present} in · {}", plural(*staff, "staff", "staff"));
                match ratio {
                    Some(r) => format!("{base} · 1:{r}"),
                    None => base,
                }
            }
            FlagLatePickup => "Late pick-up".into(),
            FlagUnscheduled => "Not on today's schedule now".into(),
            AlertNotAuthorized { time, who, child } => {
                format!("{time} {who} is not authorized for {child}")
            }
            AlertLatePickup { child, room, until } => {
                format!("{child} ({room}) is still here after {until}")
            }
            AlertUnscheduled { child, room } => {
                format!("{child} ({room}) is here outside their schedule")
            }
            AlertFingerprintFault => {
                "Fingerprint reader disconnected — PINs and QR codes still work.".into()
            }
            AlertHardware { name, detail } => format!("{name}: {detail}"),
            AlertParked { n } => format!(
                "{} the hub refused — see Sync errors",
                plural(*n, "event", "events")
            ),
            Unassigned => "Unassigned".into(),
            RollCallProgress { accounted, total } => {
                format!("{accounted} of {total} accounted for")
            }
            RollCallAllAccounted { total } => {
                format!("Everyone is accounted for ({total}).")
            }
            RollCallMissing { missing, total } => {
                format!("{missing} of {total} not accounted for.")
            }
            RollCallEmpty => "Nobody is checked in or clocked in right now.".into(),
            KindCheckIn => "Check-in".into(),
            KindCheckOut => "Check-out".into(),
            KindTransfer => "Room move".into(),
            KindClockIn => "Clock in".into(),
            KindClockOut => "Clock out".into(),
            ReasonUnknownChild => "The hub doesn't know this child.".into(),
            ReasonUnknownStaff => "The hub doesn't know this staff member.".into(),
            ReasonUnknownDevice => "The hub doesn't know this kiosk.".into(),
            ReasonMissingData => "Something was missing from the record.".into(),
            ReasonOther { reason } => format!("The hub refused it: {reason}"),
            ConfirmDismiss => {
                "Tap Dismiss again to stop sending it. It stays in this kiosk's history.".into()
            }
            WillRetry => "It will be sent again.".into(),
            Dismissed => "Dismissed. It will not be sent.".into(),
            NoLongerParked => "That one is no longer waiting.".into(),
            ReportCounts {
                added,
                updated,
                archived,
            } => format!("{added} added · {updated} updated · {archived} archived"),
            ReportOk => "Everything synced".into(),
            ReportProblems { n } => format!(
                "{} to fix in the management system",
                plural(*n, "record", "records")
            ),
            ReportFull => "Full sync".into(),
            ReportChanges => "Changes only".into(),
            SyncFailed { error } => format!("The last sync failed: {error}"),
            LoopFailed { what, error } => {
                let what = match *what {
                    "upload" => "Sending attendance to the hub",
                    "roster" => "Fetching the roster",
                    "peers" => "Fetching other doors' check-ins",
                    "heartbeat" => "Reporting to the hub",
                    "disk" => "Saving on this door",
                    other => other,
                };
                format!("{what} is failing: {error}")
            }
            Provision(p) => {
                use super::ProvisionError as P;
                match p {
                    P::NoHubUrl => "Enter the hub address, e.g. https://hub.example.org.".into(),
                    P::BadHubUrl(why) => format!("The hub address {why}."),
                    P::NoCode => "Enter the enrollment code from the hub administrator.".into(),
                    P::NoName => "Give this door a name, e.g. \"Front door\".".into(),
                    P::UnknownCode => "The hub does not know this enrollment code: check it, or ask the hub administrator for a new one.".into(),
                    P::CodeUsed => "This enrollment code was already used: ask the hub administrator for a new one.".into(),
                    P::Unreachable { url, detail } => format!("Cannot reach the hub at {url} ({detail}): check the address and this kiosk's network, then try again."),
                    P::HubBusy(detail) => format!("The hub is busy or down right now ({detail}): try again in a minute."),
                    P::Refused(detail) => format!("The hub refused the enrollment ({detail})."),
                    P::NotAHub { url, detail } => format!("The hub's answer was not understood ({detail}): is {url} the center's Cubby hub?"),
                    P::Save(detail) => format!("The hub enrolled this kiosk, but it could not save the enrollment ({detail}): fix this, then enroll again with a new code."),
                    P::Incomplete(detail) => format!("This kiosk's enrollment is incomplete ({detail}): enroll it again with a new code."),
                    P::SetupFileNotUsed(detail) => format!("The card's setup file was not used: {detail}. Fix cubby-setup.toml and restart the door, or enroll here."),
                    P::SetupUnusable(detail) => format!("The setup file's enrollment cannot be used ({detail})."),
                    P::SetupRetrying { error, secs } => format!("Enrolling with the setup file: {} Trying again in {secs} s.", Provision(error).en()),
                    P::SetupFailed(error) => format!("The setup file's enrollment failed: {} Enter a new code here.", Provision(error).en()),
                }
            }
            HardwareName(h) => match h {
                Hardware::Fingerprint => "Fingerprint reader".into(),
                Hardware::Scanner(None) => "QR scanner".into(),
                Hardware::Scanner(Some(n)) => format!("QR scanner {n}"),
                Hardware::Gpio => "Door strike, lights and buzzer".into(),
            },
            HardwareState(s) => match s {
                super::HardwareState::Ok => "Working".into(),
                super::HardwareState::Absent => "Not present".into(),
                super::HardwareState::Fault => "Not working".into(),
            },
            HardwareDetail(d) => match d {
                super::HardwareDetail::Nothing => String::new(),
                super::HardwareDetail::NotConfigured => "Not set up on this door".into(),
                super::HardwareDetail::NotFound => "Set up, but not found: check its cable".into(),
                super::HardwareDetail::Disconnected => "Disconnected: check its cable".into(),
                super::HardwareDetail::Technical(t) => t.clone(),
            },
            Trouble(t) => match t {
                super::Trouble::HubUnreachable => {
                    "the hub does not answer (is the network down?)".into()
                }
                super::Trouble::HubBusy { status } => {
                    format!("the hub is busy or unavailable (HTTP {status}); the door retries by itself")
                }
                super::Trouble::Revoked => {
                    "the hub no longer accepts this door; a technician must enroll it again".into()
                }
                super::Trouble::HubRefused { status } => {
                    format!("the hub refused the request (HTTP {status}); see the technician")
                }
                super::Trouble::BadAnswer => {
                    "the hub's answer could not be used; the door retries by itself".into()
                }
                super::Trouble::RosterRefused => {
                    "the hub sent a roster this door refused; the previous roster stays in use".into()
                }
                super::Trouble::FeedDamaged { skipped } => format!(
                    "{} from other doors could not be read and were skipped",
                    plural(*skipped as usize, "event", "events")
                ),
                super::Trouble::Disk => {
                    "this door cannot save to its storage; see the technician".into()
                }
            },
            ClockSynced => "Clock synchronized".into(),
            ClockNotSynced => "Clock not synchronized — times are flagged".into(),
            Queue {
                depth: 0,
                parked: 0,
            } => "Nothing waiting to send".into(),
            Queue { depth, parked } => {
                format!("{depth} waiting to send · {parked} refused by the hub")
            }
            Waiting { n } => format!("{n} waiting to send"),
            NoAddress => "No network address".into(),
            PersonGuardian => "Guardian".into(),
            PersonPickup => "Pickup".into(),
            PersonStaff => "Staff".into(),
            Fingers { n: 0 } => "No fingerprint".into(),
            Fingers { n } => format!("{} enrolled", plural(*n, "finger", "fingers")),
            ConsentText => "This person agrees to keep a fingerprint on this reader only.".into(),
            ConsentFirst => "Tick the consent box first.".into(),
            ChoosePersonFirst => "Choose a person first.".into(),
            ConfirmDelete { name } => {
                format!("Tap Delete again to delete {name}'s fingerprints.")
            }
            EnrollStarting => "Getting the reader ready…".into(),
            DeleteStarting => "Deleting…".into(),
            PlaceFinger { capture, of } => format!("Place your finger ({capture} of {of})"),
            LiftFinger => "Lift your finger".into(),
            EnrollSaved => "Saved".into(),
            FingersDeleted { n } => {
                format!("{} deleted", plural(*n, "fingerprint", "fingerprints"))
            }
            EnrollFailed { reason } => format!("That didn't work: {}", reason.en()),
            NothingToDelete => "No fingerprints to delete.".into(),
            NeedsTechnician { reason } => format!(
                "This door needs a technician: {reason}. Nothing is recorded here until it is \
                 fixed: please use the paper sign-in sheet."
            ),
        }
    }

    fn es(&self) -> String {
        use Msg::*;
        match self {
            GoodMorning => "¡Buenos días!".into(),
            GoodAfternoon => "¡Buenas tardes!".into(),
            GoodEvening => "¡Buenas noches!".into(),
            FingerprintUnknown => "No reconocimos la huella. Por favor, use su PIN.".into(),
            QrInvalid => "Este código no sirve aquí. Por favor, use su PIN.".into(),
            NotSaved => "No se pudo guardar. No se registró nada — intente de nuevo o pase a la recepción.".into(),
            ChooseChildOut => "Elija a un niño que esté aquí para registrar su salida.".into(),
            ChooseChildIn => {
                "Elija a un niño que todavía no haya llegado para registrar su entrada.".into()
            }
            NoChildren => "Hoy no encontramos niños a su nombre. Por favor, pase a la recepción.".into(),
            StaffPinInactive => "Este PIN de personal no está activo. Por favor, hable con la dirección.".into(),
            PersonPinInactive => {
                "Este PIN ya no está activo. Por favor, pase a la recepción.".into()
            }
            KeypadLocked { secs } => format!("Teclado bloqueado. Intente de nuevo en {secs} s."),
            TooManyTries { secs } => {
                format!("Demasiados intentos. Teclado bloqueado por {secs} s.")
            }
            PinNoMatch => "Ese PIN no coincide. Intente de nuevo, por favor.".into(),
            PinIncomplete => "Escriba su PIN completo (de 4 a 8 dígitos) y pulse OK.".into(),
            QrExpired => "Este código ya venció. Abra la aplicación para obtener uno nuevo o use su PIN.".into(),
            UnlockWithBadge => "Desbloquee el teclado con su credencial o su huella.".into(),
            AlertLockout { time, secs } => {
                format!("{time} Teclado bloqueado {secs} s por varios PIN incorrectos")
            }
            AlertKeypadLocked { until } => {
                format!("El teclado está bloqueado hasta las {until}: escanee su credencial o su huella para desbloquearlo")
            }
            EnrollTypePin { name } => format!("{name}, escriba su propio PIN para confirmar que es usted."),
            EnrollPinWrong { name } => {
                format!("Ese no es el PIN de {name}. La huella solo se guarda con la persona presente.")
            }
            EnrollNoPin { name } => {
                format!("{name} aún no tiene PIN. Pida al centro que le asigne uno antes de guardar la huella.")
            }
            Hi { name } => format!("¡Hola, {name}!"),
            InSince { time } => format!("Aquí desde {} {time}", es_hour(time)),
            NotHere => "No está aquí".into(),
            CantPickUp { who, child } => {
                format!("{who} no puede recoger a {child} — por favor, pase a la recepción")
            }
            CantDropOff { who, child } => {
                format!("{who} no puede registrar la entrada de {child} — por favor, pase a la recepción")
            }
            CheckedIn { child, room } => format!("Entrada registrada: {child}, en {room}"),
            ScheduledThere { from, to } => format!(" (según su horario, {from}–{to})"),
            CheckedOut { child } => format!("Salida registrada: {child}"),
            Moved { child, room } => format!("{child} pasó a {room}"),
            WithTime { line, time } => format!("{line} — {time}"),
            ClockedIn { name } => format!("{name} marcó su entrada"),
            ClockedOut { name } => format!("{name} marcó su salida"),
            AlreadyClockedIn => "Ya marcó su entrada.".into(),
            NotClockedIn => "Todavía no ha marcado su entrada.".into(),
            SyncTooSoon { at: Some(at) } => format!(
                "Se sincronizó hace poco; podrá hacerlo otra vez a {} {at}.",
                es_hour(at)
            ),
            SyncTooSoon { at: None } => {
                "Se sincronizó hace poco; podrá hacerlo otra vez más tarde.".into()
            }
            Syncing => "Sincronizando la lista…".into(),
            ManualSyncDone {
                time,
                changed: 0,
                to_fix: 0,
            } => format!("Lista sincronizada a {} {time}: sin cambios.", es_hour(time)),
            ManualSyncDone {
                time,
                changed,
                to_fix,
            } => {
                let mut text = format!(
                    "Lista sincronizada a {} {time}: {}",
                    es_hour(time),
                    plural(*changed as usize, "cambio", "cambios")
                );
                if *to_fix > 0 {
                    text.push_str(&format!(", {to_fix} por corregir (vea Sincronizar)"));
                }
                text.push('.');
                text
            }
            ManualSyncFailed { time, error } => format!(
                "La sincronización de {} {time} falló: {error}. La puerta sigue funcionando.",
                es_hour(time)
            ),
            ConfirmBatchCheckIn { n } => format!(
                "¿Registrar la entrada de {n} niños? Toque «Registrar entrada {n}» otra vez para confirmar."
            ),
            BatchCheckedIn { n } => format!("Entrada registrada: {n} niños"),
            BatchCheckedOut { n } => format!("Salida registrada: {n} niños"),
            BatchMoved { n, room } => format!("{n} niños pasaron a {room}"),
            AlertRevoked => "El hub ya no acepta esta puerta: las entradas se guardan aquí pero no se envían. Un técnico debe registrarla de nuevo (Dispositivo).".into(),
            DeviceRevoked => "El hub rechazó el token de esta puerta (revocado o reemplazado). La asistencia se sigue registrando y se guarda en esta puerta. Para enviarla: cree un código de registro en el hub y ejecute de nuevo `cubby provision` con él en esta puerta (docs/technician.md, volver a aprovisionar).".into(),
            KeypadUnlocked => "El teclado está desbloqueado.".into(),
            SelectChildrenFirst => "Primero elija a los niños.".into(),
            SelectPresentToMove => {
                "Elija a niños que estén aquí para cambiarlos de salón.".into()
            }
            DeviceRefused => {
                "Solo la dirección o la administración puede abrir la pantalla del equipo.".into()
            }
            RoomSummary {
                present,
                staff,
                ratio,
            } => {
                let base = format!(
                    "{} · {}",
                    plural(*present, "niño", "niños"),
                    plural(*staff, "maestra/o", "maestras/os")
                );
                match ratio {
                    Some(r) => format!("{base} · 1:{r}"),
                    None => base,
                }
            }
            FlagLatePickup => "Recogida tarde".into(),
            FlagUnscheduled => "Fuera de su horario".into(),
            AlertNotAuthorized { time, who, child } => {
                format!("{time} {who} no tiene autorización para recoger a {child}")
            }
            AlertLatePickup { child, room, until } => format!(
                "{child} ({room}) sigue aquí después de {} {until}",
                es_hour(until)
            ),
            AlertUnscheduled { child, room } => {
                format!("{child} ({room}) está aquí fuera de su horario")
            }
            AlertFingerprintFault => {
                "Lector de huellas desconectado — el PIN y el código QR siguen funcionando."
                    .into()
            }
            AlertHardware { name, detail } => format!("{name}: {detail}"),
            AlertParked { n } => format!(
                "{} — vea Errores de sincronización",
                plural(
                    *n,
                    "registro rechazado por el sistema",
                    "registros rechazados por el sistema"
                )
            ),
            Unassigned => "Sin salón".into(),
            RollCallProgress { accounted, total } => {
                format!("{accounted} de {total} contados")
            }
            RollCallAllAccounted { total } => format!("Están todos ({total})."),
            RollCallMissing { missing, total } => format!("Faltan {missing} de {total}."),
            RollCallEmpty => "Ahora no hay nadie registrado ni en turno.".into(),
            KindCheckIn => "Entrada".into(),
            KindCheckOut => "Salida".into(),
            KindTransfer => "Cambio de salón".into(),
            KindClockIn => "Entrada de turno".into(),
            KindClockOut => "Salida de turno".into(),
            ReasonUnknownChild => "El sistema no reconoce a este niño.".into(),
            ReasonUnknownStaff => "El sistema no reconoce a este miembro del personal.".into(),
            ReasonUnknownDevice => "El sistema no reconoce este equipo.".into(),
            ReasonMissingData => "Al registro le faltaba un dato.".into(),
            ReasonOther { reason } => format!("El sistema lo rechazó: {reason}"),
            ConfirmDismiss => "Toque Descartar otra vez para dejar de enviarlo. Queda en el historial de este equipo.".into(),
            WillRetry => "Se enviará de nuevo.".into(),
            Dismissed => "Descartado. No se enviará.".into(),
            NoLongerParked => "Ese registro ya no está pendiente.".into(),
            ReportCounts {
                added,
                updated,
                archived,
            } => format!("{added} nuevos · {updated} actualizados · {archived} archivados"),
            ReportOk => "Todo sincronizado".into(),
            ReportProblems { n } => format!(
                "{} por corregir en el sistema de gestión",
                plural(*n, "registro", "registros")
            ),
            ReportFull => "Sincronización completa".into(),
            ReportChanges => "Solo cambios".into(),
            SyncFailed { error } => format!("La última sincronización falló: {error}"),
            LoopFailed { what, error } => {
                let what = match *what {
                    "upload" => "El envío de asistencia al hub",
                    "roster" => "La descarga de la lista",
                    "peers" => "La descarga de registros de otras puertas",
                    "heartbeat" => "El reporte al hub",
                    "disk" => "El guardado en esta puerta",
                    other => other,
                };
                format!("{what} está fallando: {error}")
            }
            Provision(p) => {
                use super::ProvisionError as P;
                match p {
                    P::NoHubUrl => "Escriba la dirección del hub, p. ej. https://hub.example.org.".into(),
                    P::BadHubUrl(why) => format!("La dirección del hub no sirve: {why}."),
                    P::NoCode => "Escriba el código de registro que le dio el administrador del hub.".into(),
                    P::NoName => "Dé un nombre a esta puerta, p. ej. \"Puerta principal\".".into(),
                    P::UnknownCode => "El hub no conoce este código de registro: revíselo o pida uno nuevo al administrador del hub.".into(),
                    P::CodeUsed => "Este código de registro ya se usó: pida uno nuevo al administrador del hub.".into(),
                    P::Unreachable { url, detail } => format!("No se puede contactar con el hub en {url} ({detail}): revise la dirección y la red de este equipo, y vuelva a intentarlo."),
                    P::HubBusy(detail) => format!("El hub está ocupado o caído en este momento ({detail}): inténtelo de nuevo en un minuto."),
                    P::Refused(detail) => format!("El hub rechazó el registro ({detail})."),
                    P::NotAHub { url, detail } => format!("No se entendió la respuesta del hub ({detail}): ¿es {url} el hub de Cubby del centro?"),
                    P::Save(detail) => format!("El hub registró este equipo, pero no se pudo guardar el registro ({detail}): corríjalo y vuelva a registrarlo con un código nuevo."),
                    P::Incomplete(detail) => format!("El registro de este equipo está incompleto ({detail}): vuelva a registrarlo con un código nuevo."),
                    P::SetupFileNotUsed(detail) => format!("No se usó el archivo de configuración de la tarjeta: {detail}. Corrija cubby-setup.toml y reinicie la puerta, o regístrela aquí."),
                    P::SetupUnusable(detail) => format!("No se puede usar el registro del archivo de configuración ({detail})."),
                    P::SetupRetrying { error, secs } => format!("Registrando con el archivo de configuración: {} Se intentará de nuevo en {secs} s.", Provision(error).es()),
                    P::SetupFailed(error) => format!("Falló el registro del archivo de configuración: {} Escriba aquí un código nuevo.", Provision(error).es()),
                }
            }
            HardwareName(h) => match h {
                Hardware::Fingerprint => "Lector de huellas".into(),
                Hardware::Scanner(None) => "Lector de QR".into(),
                Hardware::Scanner(Some(n)) => format!("Lector de QR {n}"),
                Hardware::Gpio => "Cerradura, luces y zumbador".into(),
            },
            HardwareState(s) => match s {
                super::HardwareState::Ok => "Funciona".into(),
                super::HardwareState::Absent => "No está".into(),
                super::HardwareState::Fault => "No funciona".into(),
            },
            HardwareDetail(d) => match d {
                super::HardwareDetail::Nothing => String::new(),
                super::HardwareDetail::NotConfigured => "No está configurado en esta puerta".into(),
                super::HardwareDetail::NotFound => {
                    "Configurado, pero no se encuentra: revise el cable".into()
                }
                super::HardwareDetail::Disconnected => "Desconectado: revise el cable".into(),
                super::HardwareDetail::Technical(t) => t.clone(),
            },
            Trouble(t) => match t {
                super::Trouble::HubUnreachable => {
                    "el hub no responde (¿no hay red?)".into()
                }
                super::Trouble::HubBusy { status } => format!(
                    "el hub está ocupado o no disponible (HTTP {status}); la puerta lo reintenta sola"
                ),
                super::Trouble::Revoked => {
                    "el hub ya no acepta esta puerta; un técnico debe registrarla de nuevo".into()
                }
                super::Trouble::HubRefused { status } => format!(
                    "el hub rechazó la solicitud (HTTP {status}); hable con el técnico"
                ),
                super::Trouble::BadAnswer => {
                    "no se pudo usar la respuesta del hub; la puerta lo reintenta sola".into()
                }
                super::Trouble::RosterRefused => {
                    "el hub envió una lista que esta puerta rechazó; se sigue usando la anterior".into()
                }
                super::Trouble::FeedDamaged { skipped } => format!(
                    "no se pudieron leer {} de otras puertas y se omitieron",
                    plural(*skipped as usize, "registro", "registros")
                ),
                super::Trouble::Disk => {
                    "esta puerta no puede guardar en su almacenamiento; hable con el técnico".into()
                }
            },
            ClockSynced => "Reloj sincronizado".into(),
            ClockNotSynced => "Reloj sin sincronizar — las horas quedan marcadas".into(),
            Queue { depth: 0, parked: 0 } => "Nada pendiente de enviar".into(),
            Queue { depth, parked } => {
                format!("{depth} por enviar · {parked} rechazados por el sistema")
            }
            Waiting { n } => format!("{n} por enviar"),
            NoAddress => "Sin dirección de red".into(),
            PersonGuardian => "Familia".into(),
            PersonPickup => "Autorizado para recoger".into(),
            PersonStaff => "Personal".into(),
            Fingers { n: 0 } => "Sin huella".into(),
            Fingers { n } => plural(*n, "huella registrada", "huellas registradas"),
            ConsentText => {
                "Esta persona acepta guardar su huella solo en este lector.".into()
            }
            ConsentFirst => "Primero marque la casilla de consentimiento.".into(),
            ChoosePersonFirst => "Primero elija a una persona.".into(),
            ConfirmDelete { name } => {
                format!("Toque Borrar otra vez para borrar las huellas de {name}.")
            }
            EnrollStarting => "Preparando el lector…".into(),
            DeleteStarting => "Borrando…".into(),
            PlaceFinger { capture, of } => format!("Ponga el dedo ({capture} de {of})"),
            LiftFinger => "Levante el dedo".into(),
            EnrollSaved => "Guardada".into(),
            FingersDeleted { n } => plural(*n, "huella borrada", "huellas borradas"),
            EnrollFailed { reason } => format!("No funcionó: {}", reason.es()),
            NothingToDelete => "No hay huellas que borrar.".into(),
            NeedsTechnician { reason } => format!(
                "Esta puerta necesita un técnico: {reason}. Aquí no se registra nada hasta que \
                 se arregle: por favor, use la hoja de registro en papel."
            ),
        }
    }
}

impl EnrollFailure {
    /// The sentence for this failure in `lang` (`Msg::EnrollFailed` puts it after
    /// "That didn't work:").
    pub fn text(self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en(),
            Lang::Es => self.es(),
        }
    }

    fn en(self) -> &'static str {
        use EnrollFailure::*;
        match self {
            FingerTimeout => "No finger was placed in time. Please start again.",
            AlreadyEnrolled => "This finger is already enrolled.",
            ReaderFull => {
                "The fingerprint reader is full. Delete fingerprints of people who left first."
            }
            CapturesDiffer => "The captures did not look like the same finger. Please start again.",
            ReaderDisconnected => {
                "The fingerprint reader is not connected. Please see the technician."
            }
            ReaderFault => {
                "The fingerprint reader could not do it. Please try again or see the technician."
            }
            NoReader => "No fingerprint reader is configured on this kiosk.",
            NotOnRoster => "This person is not active on this kiosk's roster.",
            ListUnreadable => "The fingerprint list could not be read.",
            NotSaved => "The fingerprint could not be saved. Nothing was kept; please try again.",
        }
    }

    fn es(self) -> &'static str {
        use EnrollFailure::*;
        match self {
            FingerTimeout => "No se puso el dedo a tiempo. Por favor, empiece de nuevo.",
            AlreadyEnrolled => "Esta huella ya está registrada.",
            ReaderFull => {
                "El lector de huellas está lleno. Primero borre las huellas de las personas que ya no vienen."
            }
            CapturesDiffer => {
                "Las lecturas no parecen del mismo dedo. Por favor, empiece de nuevo."
            }
            ReaderDisconnected => {
                "El lector de huellas no está conectado. Por favor, hable con el técnico."
            }
            ReaderFault => {
                "El lector de huellas no pudo hacerlo. Intente de nuevo o hable con el técnico."
            }
            NoReader => "Este equipo no tiene un lector de huellas configurado.",
            NotOnRoster => "Esta persona no está activa en la lista de este equipo.",
            ListUnreadable => "No se pudo leer la lista de huellas.",
            NotSaved => "No se pudo guardar la huella. No se guardó nada; intente de nuevo, por favor.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lang_round_trips_and_refuses_others() {
        for l in [Lang::En, Lang::Es] {
            assert_eq!(Lang::parse(l.as_str()), Some(l));
        }
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::parse("ES"), None);
    }

    #[test]
    fn spanish_reads_like_the_front_desk() {
        assert_eq!(Msg::Hi { name: "Dana" }.text(Lang::Es), "¡Hola, Dana!");
        assert_eq!(Msg::Hi { name: "Dana" }.text(Lang::En), "Hi Dana!");
        assert_eq!(
            Msg::InSince { time: "8:02" }.text(Lang::Es),
            "Aquí desde las 8:02"
        );
        assert_eq!(
            Msg::InSince { time: "1:15" }.text(Lang::Es),
            "Aquí desde la 1:15"
        );
        assert!(Msg::CantPickUp {
            who: "Chris",
            child: "Mia"
        }
        .text(Lang::Es)
        .ends_with("por favor, pase a la recepción"));
    }

    #[test]
    fn plurals_agree() {
        assert_eq!(Msg::Fingers { n: 1 }.text(Lang::En), "1 finger enrolled");
        assert_eq!(Msg::Fingers { n: 2 }.text(Lang::En), "2 fingers enrolled");
        assert_eq!(
            Msg::Fingers { n: 2 }.text(Lang::Es),
            "2 huellas registradas"
        );
        assert_eq!(
            Msg::AlertParked { n: 1 }.text(Lang::En),
            "1 event the hub refused — see Sync errors"
        );
    }

    #[test]
    fn every_message_has_words_in_both_languages() {
        let all = [
            Msg::GoodMorning,
            Msg::NotSaved,
            Msg::DeviceRefused,
            Msg::ConfirmDismiss,
            Msg::RollCallEmpty,
            Msg::ConsentText,
            Msg::Queue {
                depth: 0,
                parked: 0,
            },
            Msg::Queue {
                depth: 3,
                parked: 1,
            },
            Msg::EnrollFailed {
                reason: EnrollFailure::FingerTimeout,
            },
            Msg::NeedsTechnician {
                reason: "the disk is read-only",
            },
        ];
        for m in all {
            let (en, es) = (m.text(Lang::En), m.text(Lang::Es));
            assert!(!en.is_empty() && !es.is_empty(), "{m:?}");
            assert_ne!(en, es, "{m:?} is not translated");
        }
    }

    /// Every failure, each once. `exhaustive` below stops compiling when a variant is
    /// added, as a reminder to list it here.
    const ALL_FAILURES: [EnrollFailure; 10] = [
        EnrollFailure::FingerTimeout,
        EnrollFailure::AlreadyEnrolled,
        EnrollFailure::ReaderFull,
        EnrollFailure::CapturesDiffer,
        EnrollFailure::ReaderDisconnected,
        EnrollFailure::ReaderFault,
        EnrollFailure::NoReader,
        EnrollFailure::NotOnRoster,
        EnrollFailure::ListUnreadable,
        EnrollFailure::NotSaved,
    ];

    fn exhaustive(f: EnrollFailure) -> usize {
        use EnrollFailure::*;
        match f {
            FingerTimeout => 0,
            AlreadyEnrolled => 1,
            ReaderFull => 2,
            CapturesDiffer => 3,
            ReaderDisconnected => 4,
            ReaderFault => 5,
            NoReader => 6,
            NotOnRoster => 7,
            ListUnreadable => 8,
            NotSaved => 9,
        }
    }

    #[test]
    fn every_enroll_failure_has_its_own_words_in_both_languages() {
        for (i, f) in ALL_FAILURES.into_iter().enumerate() {
            assert_eq!(exhaustive(f), i, "{f:?} listed once, in order");
        }
        let mut seen = std::collections::HashSet::new();
        for f in ALL_FAILURES {
            let (en, es) = (f.text(Lang::En), f.text(Lang::Es));
            assert!(!en.trim().is_empty() && !es.trim().is_empty(), "{f:?}");
            assert_ne!(en, es, "{f:?} is not translated");
            assert!(
                seen.insert(en),
                "{f:?}: the same English as another failure"
            );
            assert!(
                seen.insert(es),
                "{f:?}: the same Spanish as another failure"
            );
            assert!(
                en.ends_with('.') && es.ends_with('.'),
                "{f:?}: whole sentences"
            );
        }
    }

    #[test]
    fn a_failed_enrollment_reads_in_the_door_language() {
        let m = Msg::EnrollFailed {
            reason: EnrollFailure::FingerTimeout,
        };
        assert_eq!(
            m.text(Lang::En),
            "That didn't work: No finger was placed in time. Please start again."
        );
        assert_eq!(
            m.text(Lang::Es),
            "No funcionó: No se puso el dedo a tiempo. Por favor, empiece de nuevo."
        );
    }

    #[test]
    fn the_technician_screen_keeps_the_reason_and_speaks_the_door_language() {
        let m = Msg::NeedsTechnician {
            reason: "the disk is read-only",
        };
        assert_eq!(
            m.text(Lang::En),
            "This door needs a technician: the disk is read-only. Nothing is recorded here \
             until it is fixed: please use the paper sign-in sheet."
        );
        let es = m.text(Lang::Es);
        assert!(
            es.starts_with("Esta puerta necesita un técnico: the disk is read-only.")
                && es.ends_with("use la hoja de registro en papel."),
            "{es}"
        );
    }
}
