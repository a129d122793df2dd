//! What the door writes to the audit log, as one enum: each kind is named once here, and
//! [`AuditKind::as_str`] is the word stored in the log (and read back by the director's
//! listing and the staff alerts), so a misspelt kind cannot compile.

/// A kind of audit entry the door state machine emits (`Effect::Audit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditKind {
    /// A staff member opened the device screen (or was refused it).
    DeviceScreen,
    FingerprintEnroll,
    FingerprintEnrollRefused,
    FingerprintDelete,
    /// The keypad locked after too many wrong PINs.
    PinLockout,
    /// Staff lifted the keypad lock.
    LockoutLifted,
    /// Staff sent a parked event again.
    ParkedRetry,
    /// Staff stopped sending a parked event.
    ParkedDismissed,
    /// An archived person's PIN opened nothing.
    RefusedInactivePerson,
    /// An archived staff member's PIN opened nothing.
    RefusedInactiveStaff,
    /// A family action refused for a child the person may not take.
    RefusedNotAuthorized,
    RollCallStarted,
    RollCallFinished,
    /// The technician PIN is also someone's roster PIN.
    TechnicianPinCollision,
}

impl AuditKind {
    /// Every kind, for tests and listings.
    pub const ALL: [AuditKind; 14] = [
        AuditKind::DeviceScreen,
        AuditKind::FingerprintEnroll,
        AuditKind::FingerprintEnrollRefused,
        AuditKind::FingerprintDelete,
        AuditKind::PinLockout,
        AuditKind::LockoutLifted,
        AuditKind::ParkedRetry,
        AuditKind::ParkedDismissed,
        AuditKind::RefusedInactivePerson,
        AuditKind::RefusedInactiveStaff,
        AuditKind::RefusedNotAuthorized,
        AuditKind::RollCallStarted,
        AuditKind::RollCallFinished,
        AuditKind::TechnicianPinCollision,
    ];

    /// The word stored in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::DeviceScreen => "device_screen",
            AuditKind::FingerprintEnroll => "fingerprint_enroll",
            AuditKind::FingerprintEnrollRefused => "fingerprint_enroll_refused",
            AuditKind::FingerprintDelete => "fingerprint_delete",
            AuditKind::PinLockout => "pin_lockout",
            AuditKind::LockoutLifted => "lockout_lifted",
            AuditKind::ParkedRetry => "parked_retry",
            AuditKind::ParkedDismissed => "parked_dismissed",
            AuditKind::RefusedInactivePerson => "refused_inactive_person",
            AuditKind::RefusedInactiveStaff => "refused_inactive_staff",
            AuditKind::RefusedNotAuthorized => "refused_not_authorized",
            AuditKind::RollCallStarted => "roll_call_started",
            AuditKind::RollCallFinished => "roll_call_finished",
            AuditKind::TechnicianPinCollision => "technician_pin_collision",
        }
    }

    /// A refusal at the door (the door signals it: red LED, buzzer).
    pub fn is_refusal(self) -> bool {
        matches!(self, AuditKind::RefusedNotAuthorized)
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_stored_word() {
        let words: std::collections::HashSet<&str> =
            AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(words.len(), AuditKind::ALL.len());
        assert!(words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_')));
        assert_eq!(
            AuditKind::RefusedNotAuthorized.as_str(),
            "refused_not_authorized"
        );
        let refusals: Vec<_> = AuditKind::ALL
            .into_iter()
            .filter(|k| k.is_refusal())
            .collect();
        assert_eq!(refusals, [AuditKind::RefusedNotAuthorized]);
    }
}
