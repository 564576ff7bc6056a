//! NIP-47's error codes, and the engine's errors mapped to them by exhaustive matches.

use boltd_engine::auth::AuthError;
use boltd_engine::PayError;

/// Why a request was not answered with a result: one variant per NIP-47 error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NwcError {
    /// `RATE_LIMITED`: too many requests at once; retry in a few seconds.
    #[error("{0}")]
    RateLimited(String),
    /// `NOT_IMPLEMENTED`: the method (or a parameter of it) is not supported.
    #[error("{0}")]
    NotImplemented(String),
    /// `INSUFFICIENT_BALANCE`: the channels cannot send the amount; nothing was sent.
    #[error("{0}")]
    InsufficientBalance(String),
    /// `QUOTA_EXCEEDED`: over the connection's per-payment maximum or one of its budgets.
    #[error("{0}")]
    QuotaExceeded(String),
    /// `RESTRICTED`: the connection lacks the scope the method needs.
    #[error("{0}")]
    Restricted(String),
    /// `UNAUTHORIZED`: no connection for this key, or it is revoked or expired.
    #[error("unauthorized: no active connection for this key")]
    Unauthorized,
    /// `INTERNAL`: boltd failed (details in its log only).
    #[error("{0}")]
    Internal(String),
    /// `PAYMENT_FAILED`: the payment was tried and did not go through.
    #[error("{0}")]
    PaymentFailed(String),
    /// `NOT_FOUND`: no such invoice or payment.
    #[error("{0}")]
    NotFound(String),
    /// `UNSUPPORTED_ENCRYPTION`: the request's `encryption` tag names no scheme boltd speaks.
    #[error("{0}")]
    UnsupportedEncryption(String),
    /// `OTHER`: anything else (malformed parameters, an expired request, a wrong state).
    #[error("{0}")]
    Other(String),
}

impl NwcError {
    /// The NIP-47 error code.
    pub fn code(&self) -> &'static str {
        match self {
            NwcError::RateLimited(_) => "RATE_LIMITED",
            NwcError::NotImplemented(_) => "NOT_IMPLEMENTED",
            NwcError::InsufficientBalance(_) => "INSUFFICIENT_BALANCE",
            NwcError::QuotaExceeded(_) => "QUOTA_EXCEEDED",
            NwcError::Restricted(_) => "RESTRICTED",
            NwcError::Unauthorized => "UNAUTHORIZED",
            NwcError::Internal(_) => "INTERNAL",
            NwcError::PaymentFailed(_) => "PAYMENT_FAILED",
            NwcError::NotFound(_) => "NOT_FOUND",
            NwcError::UnsupportedEncryption(_) => "UNSUPPORTED_ENCRYPTION",
            NwcError::Other(_) => "OTHER",
        }
    }

    /// A malformed request or parameter.
    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        NwcError::Other(msg.into())
    }
}

impl From<PayError> for NwcError {
    fn from(e: PayError) -> Self {
        let message = e.to_string();
        match e {
            PayError::InvalidParams(_)
            | PayError::IdempotencyConflict { .. }
            | PayError::AlreadyPaid { .. }
            | PayError::WrongState(_)
            | PayError::LabelExists(_)
            | PayError::InvoiceExpired { .. } => NwcError::Other(message),
            PayError::NotFound(_) => NwcError::NotFound(message),
            PayError::Unauthorized => NwcError::Unauthorized,
            PayError::PaymentLimitExceeded { .. } | PayError::BudgetExceeded { .. } => {
                NwcError::QuotaExceeded(message)
            }
            PayError::InsufficientBalance { .. } => NwcError::InsufficientBalance(message),
            PayError::ChannelsBusy { .. } => NwcError::RateLimited(message),
            PayError::DestinationRejected { .. }
            | PayError::RouteNotFound { .. }
            | PayError::RouteTooExpensive { .. }
            | PayError::Timeout { .. }
            | PayError::Recorded { .. } => NwcError::PaymentFailed(message),
            PayError::Storage | PayError::Other(_) => NwcError::Internal(message),
        }
    }
}

impl From<AuthError> for NwcError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Missing | AuthError::Invalid | AuthError::NotFound(_) => {
                NwcError::Unauthorized
            }
            AuthError::MissingScope(scope) => {
                NwcError::Restricted(format!("this connection lacks the `{scope}` scope"))
            }
            AuthError::InvalidInput(m) => NwcError::Other(m),
            AuthError::LastAdmin(_) => NwcError::Other(e.to_string()),
            AuthError::Internal => NwcError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use boltd_engine::auth::Scope;
    use boltd_store::BudgetWindow;

    #[test]
    fn engine_errors_map_to_the_specs_codes() {
        let budget = PayError::BudgetExceeded {
            window: BudgetWindow::Day,
            limit_msat: 1,
            spent_msat: 0,
            remaining_msat: 1,
            needed_msat: 2,
        };
        assert_eq!(NwcError::from(budget).code(), "QUOTA_EXCEEDED");
        let limit = PayError::PaymentLimitExceeded { limit_msat: 1, amount_msat: 2 };
        assert_eq!(NwcError::from(limit).code(), "QUOTA_EXCEEDED");
        let poor = PayError::InsufficientBalance { needed_msat: 2, available_msat: 1 };
        assert_eq!(NwcError::from(poor).code(), "INSUFFICIENT_BALANCE");
        let noroute = PayError::RouteNotFound { failures: vec![] };
        assert_eq!(NwcError::from(noroute).code(), "PAYMENT_FAILED");
        assert_eq!(NwcError::from(PayError::Unauthorized).code(), "UNAUTHORIZED");
        assert_eq!(NwcError::from(PayError::NotFound("x".into())).code(), "NOT_FOUND");
        assert_eq!(NwcError::from(PayError::Storage).code(), "INTERNAL");
        assert_eq!(NwcError::from(PayError::InvalidParams("x".into())).code(), "OTHER");
        assert_eq!(
            NwcError::from(AuthError::MissingScope(Scope::PaymentsSend)).code(),
            "RESTRICTED"
        );
        assert_eq!(NwcError::from(AuthError::Invalid).code(), "UNAUTHORIZED");
    }
}
