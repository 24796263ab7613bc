//! Optimistic concurrency: every versioned resource's write says which version it expects.

use crate::error::{Error, Result};

/// The version a write expects: `If-Match` (412 when stale), a body `version` (409 when stale),
/// or any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    IfMatch(i64),
    Body(i64),
}

impl Expected {
    /// The error for a write whose expected version is not `current`, if any.
    pub fn check(self, current: i64) -> Result<()> {
        match self {
            Expected::IfMatch(v) if v != current => {
                Err(Error::PreconditionFailed(format!("If-Match {v} does not match the current version {current}")))
            }
            Expected::Body(v) if v != current => {
                Err(Error::Conflict(format!("version {v} is stale; the current version is {current}")))
            }
            _ => Ok(()),
        }
    }
}

/// A change and the version it expects (`If-Match`, else the change's own `version`).
#[derive(Debug)]
pub struct Change<B>(pub Expected, pub B);

/// A change whose body may say which version it expects (`version`).
pub trait Versioned {
    fn version(&self) -> Option<i64>;
}

/// Implements [`Versioned`] for changes with a `version: Option<i64>` field.
macro_rules! versioned {
    ($($change:ty),+ $(,)?) => {
        $(impl $crate::domain::versions::Versioned for $change {
            fn version(&self) -> Option<i64> {
                self.version
            }
        })+
    };
}
pub(crate) use versioned;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_versions_are_refused_as_each_form_promises() {
        assert!(Expected::Any.check(3).is_ok());
        assert!(Expected::IfMatch(3).check(3).is_ok());
        assert!(Expected::Body(3).check(3).is_ok());
        assert!(matches!(Expected::IfMatch(2).check(3), Err(Error::PreconditionFailed(_))));
        assert!(matches!(Expected::Body(2).check(3), Err(Error::Conflict(_))));
    }
}
