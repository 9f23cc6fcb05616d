//! One error type for every route, rendered as an RFC 9457 problem document. Client mistakes say
//! exactly what is wrong; server failures are logged with the request id and never echoed.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use k911_aggregates::account::AccountError;
use k911_aggregates::agent::AgentError;
use k911_aggregates::disclosure::DisclosureError;
use k911_aggregates::document::DocumentError;
use k911_aggregates::faq::FaqError;
use k911_aggregates::loan::law::Unlawful;
use k911_aggregates::loan::LoanError;
use k911_aggregates::loan_application::LoanApplicationError;
use k911_aggregates::support_ticket::SupportTicketError;
use k911_commands::Error as AppError;
use k911_event_store::follower::FollowerError;
use k911_projections::ReadError;
use serde::Serialize;

/// A field that failed validation and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not JSON, or a header is malformed.
    Malformed(String),
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404: unknown, or not the caller's.
    NotFound(&'static str),
    /// 405
    MethodNotAllowed,
    /// 409: the resource is not in a state that allows this.
    Conflict(String),
    /// 413
    TooLarge,
    /// 415
    UnsupportedMediaType,
    /// 422 with the fields at fault.
    Invalid(Vec<FieldError>),
    /// 422 without a particular field (an idempotency key reused for another request).
    Unprocessable(String),
    /// 429
    TooManyRequests { retry_after_secs: u64 },
    /// 503: the database or the read models are not there yet.
    Unavailable(String),
    /// 500: a bug or an infrastructure failure; details go to the log only.
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl ToString) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed-request",
                "Malformed request",
            ),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authentication required",
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "Not allowed for your role",
            ),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            Self::Conflict(_) => (
                StatusCode::CONFLICT,
                "conflict",
                "Conflict with the current state",
            ),
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "body-too-large",
                "Request body too large",
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ),
            Self::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation-failed",
                "Validation failed",
            ),
            Self::Unprocessable(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                "Request cannot be processed",
            ),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-requests",
                "Too many requests",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Temporarily unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }

    /// The status this error is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn detail(&self) -> String {
        match self {
            Self::Malformed(d)
            | Self::Conflict(d)
            | Self::Unprocessable(d)
            | Self::Unavailable(d) => d.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Unauthorized => "a valid bearer token or correct credentials are required".into(),
            Self::Forbidden => "your role may not use this route".into(),
            Self::MethodNotAllowed => "this path does not accept that method".into(),
            Self::TooLarge => "the request body exceeds the limit".into(),
            Self::UnsupportedMediaType => "send Content-Type: application/json".into(),
            Self::Invalid(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            Self::TooManyRequests { retry_after_secs } => {
                format!("try again in {retry_after_secs} s")
            }
            Self::Internal(_) => "the request failed on our side; it has been logged".into(),
        }
    }
}

/// An RFC 9457 problem document, as every error is answered.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind, title) = self.parts();
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let problem = Problem {
            kind: format!("https://k911.ru/problems/{kind}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors: match &self {
                Self::Invalid(errors) => Some(errors),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).expect("problems serialize");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            Self::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // Whatever is out of reach is usually back within moments (a restart, a failover).
            Self::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            _ => {}
        }
        response
    }
}

impl ApiError {
    /// A loan application's refusal; the loan's fields are named under `prefix` (`"loan."` in
    /// an application body, nothing in an approval's).
    pub(crate) fn application(error: LoanApplicationError, prefix: &str) -> Self {
        let field = |name: &str| format!("{prefix}{name}");
        match error {
            LoanApplicationError::NotSubmitted => Self::NotFound("application"),
            LoanApplicationError::AmountOutOfLimits { .. }
            | LoanApplicationError::AmountAboveRequest { .. } => {
                Self::invalid(&field("amount_kopecks"), error)
            }
            LoanApplicationError::TermOutOfLimits { .. }
            | LoanApplicationError::TermAboveRequest { .. } => {
                Self::invalid(&field("term_days"), error)
            }
            LoanApplicationError::RateAboveCap { .. } => Self::invalid(&field("daily_rate"), error),
            // The borrower's standing debt, not a field of the request, refuses it.
            LoanApplicationError::Unlawful(
                Unlawful::HighCostLoansHeld { .. } | Unlawful::HighCostWaitingPeriod { .. },
            ) => Self::Conflict(error.to_string()),
            LoanApplicationError::Unlawful(unlawful) => {
                Self::invalid(&field(unlawful.field()), unlawful)
            }
            LoanApplicationError::AlreadySubmitted | LoanApplicationError::AlreadyDecided => {
                Self::Conflict(error.to_string())
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Ticket(e) => match e {
                SupportTicketError::NotFound => Self::NotFound("ticket"),
                other => Self::Conflict(other.to_string()),
            },
            AppError::Account(e) => match e {
                AccountError::AlreadyExists => Self::Conflict(e.to_string()),
                AccountError::NotAStaffRole(_) => Self::invalid("role", e),
                AccountError::NotACustomer
                | AccountError::AlreadyOpen
                | AccountError::NotOpen
                | AccountError::ApplicationPending
                | AccountError::NoPassword
                | AccountError::AlreadyLinked(_)
                | AccountError::Erased
                | AccountError::NoConsent => Self::Conflict(e.to_string()),
                AccountError::NotLinked(_) => Self::NotFound("social link"),
            },
            AppError::Faq(e) => match e {
                FaqError::NotFound => Self::NotFound("FAQ entry"),
                FaqError::AlreadyPublished => Self::Conflict(e.to_string()),
            },
            AppError::ComplianceRead(e) => Self::Conflict(e.to_string()),
            AppError::UnknownSubject => Self::invalid("subject_id", error),
            AppError::SubjectErased => Self::Conflict(error.to_string()),
            AppError::Disclosure(e) => match e {
                DisclosureError::NotFound => Self::NotFound("disclosure request"),
                DisclosureError::EmptyScope => Self::invalid("scope.categories", e),
                DisclosureError::BackwardsPeriod => Self::invalid("scope.to", e),
                DisclosureError::AlreadyRegistered | DisclosureError::AlreadyDisclosed => {
                    Self::Conflict(e.to_string())
                }
            },
            AppError::Document(e) => match e {
                DocumentError::NotFound => Self::NotFound("document"),
                DocumentError::AlreadyPublished => Self::Conflict(e.to_string()),
            },
            AppError::Application(e) => Self::application(e, ""),
            AppError::KnownCustomer | AppError::PassportOfAnotherCustomer => {
                Self::Conflict(error.to_string())
            }
            AppError::WrongCurrentPassword => Self::invalid("current_password", error),
            AppError::UnknownCard => Self::invalid("payout.card_token", error),
            AppError::UnknownProvider => Self::NotFound("login provider"),
            AppError::WrongCode => Self::invalid("code", error),
            AppError::UnknownContract => Self::invalid("contract_number", error),
            AppError::PaymentMatch(e) => Self::Conflict(e),
            AppError::Loan(e) => match e {
                LoanError::NotOffered => Self::NotFound("loan"),
                LoanError::PaidBeforeIssue(_) => Self::invalid("paid_at", e),
                other => Self::Conflict(other.to_string()),
            },
            AppError::SigningRefused(_) => Self::Conflict(error.to_string()),
            AppError::ProviderUnavailable(e) => Self::Unavailable(e),
            AppError::BadSocialState => Self::invalid("state", error),
            AppError::SocialRefused(_) => Self::invalid("code", error),
            AppError::SocialAccountTaken => Self::Conflict(error.to_string()),
            AppError::Agent(e) => match e {
                AgentError::NotRegistered => Self::NotFound("agent"),
                AgentError::InnDoesNotFitKind => Self::invalid("inn", e),
                AgentError::InvalidPlan => Self::invalid("plan.percent_of_principal", e),
                AgentError::PlanInThePast | AgentError::PlanWouldRewrite => {
                    Self::invalid("effective_from", e)
                }
                _ => Self::Conflict(e.to_string()),
            },
            AppError::Conflict => Self::Conflict(error.to_string()),
            AppError::NotFound => Self::NotFound("resource"),
            AppError::NotDead | AppError::PayoutTooOldToRetry => Self::Conflict(error.to_string()),
            AppError::AlreadyReceived => Self::Conflict(error.to_string()),
            AppError::LoginTaken => Self::Conflict(error.to_string()),
            AppError::BadCredentials => Self::Unauthorized,
            AppError::ConsentTextChanged(_) | AppError::NoLiveConsent(_) => {
                Self::Conflict(error.to_string())
            }
            AppError::ConsentTextMissing(_) => Self::Unavailable(error.to_string()),
            AppError::Throttled { retry_after_secs } => Self::TooManyRequests { retry_after_secs },
            AppError::NotReady(e) => Self::Unavailable(e.to_string()),
            AppError::Keys(e) => Self::Internal(e.to_string()),
            AppError::Unavailable(cause) => {
                // Logged, never echoed: the cause names servers and pools.
                tracing::warn!(%cause, "database unavailable");
                Self::Unavailable("the service is temporarily unavailable; try again".into())
            }
            AppError::Storage(e) => Self::Internal(e),
        }
    }
}

/// The read side's errors as the write side's, so both are answered alike: database trouble is
/// told apart (503 or 500) in one place.
pub(crate) fn read_error(error: ReadError) -> AppError {
    match error {
        ReadError::NotFound => AppError::NotFound,
        ReadError::Follower(FollowerError::Database(e)) => e.into(),
        ReadError::Follower(FollowerError::Pool(e)) => e.into(),
        ReadError::Follower(other) => AppError::NotReady(other),
        ReadError::Keys(e) => e.into(),
        ReadError::Corrupt(e) => AppError::Storage(e),
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        read_error(error).into()
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("route")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
