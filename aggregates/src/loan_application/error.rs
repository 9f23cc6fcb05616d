use crate::money::{DailyRate, Kopecks};

/// Why a loan application refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoanApplicationError {
    #[error("the application was already submitted")]
    AlreadySubmitted,
    #[error("no such application")]
    NotSubmitted,
    #[error("the application was already decided; decisions are final")]
    AlreadyDecided,
    #[error("the amount must be between {min} and {max}")]
    AmountOutOfLimits { min: Kopecks, max: Kopecks },
    #[error("the term must be between {min} and {max} days")]
    TermOutOfLimits { min: u16, max: u16 },
    #[error("the approved amount cannot exceed the {asked} asked for")]
    AmountAboveRequest { asked: Kopecks },
    #[error("the approved term cannot exceed the {asked} days asked for")]
    TermAboveRequest { asked: u16 },
    #[error(
        "the daily rate cannot exceed {cap} % (353-FZ art. 5 part 23, and the product's rate)"
    )]
    RateAboveCap { cap: DailyRate },
    /// The approved terms would break the law's edition of the day.
    #[error(transparent)]
    Unlawful(#[from] crate::loan::law::Unlawful),
}
