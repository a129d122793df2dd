//! Why enrolling this door with a hub did not happen, for the provisioning screen (in the
//! door's language) and `cubby provision` (its `Display`: English). The runtime classifies
//! each failure once; the words live in `i18n` with every other word the door shows.
//! Details inside (an address, an OS or hub error) are technical and stay as they are.

/// Why an enrollment did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", super::Msg::Provision(self).text(super::Lang::En))]
pub enum ProvisionError {
    NoHubUrl,
    /// The address is not usable: why (`is not a valid URL`, `must use https`…).
    BadHubUrl(String),
    NoCode,
    NoName,
    UnknownCode,
    CodeUsed,
    Unreachable {
        url: String,
        detail: String,
    },
    HubBusy(String),
    Refused(String),
    NotAHub {
        url: String,
        detail: String,
    },
    /// Enrolled with the hub, but this door could not keep it.
    Save(String),
    /// A half-done or damaged enrollment on this door.
    Incomplete(String),
    /// The card's `cubby-setup.toml` could not be used.
    SetupFileNotUsed(String),
    /// The setup file's enrollment could not be read.
    SetupUnusable(String),
    /// The setup file's enrollment failed for a reason that may pass; tried again soon.
    SetupRetrying {
        error: Box<ProvisionError>,
        secs: u64,
    },
    /// The setup file's enrollment was refused for good.
    SetupFailed(Box<ProvisionError>),
}

impl ProvisionError {
    /// Worth trying again by itself: the hub could not be reached or was busy.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProvisionError::Unreachable { .. } | ProvisionError::HubBusy(_)
        )
    }
}
