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
    /// The lender's limit on high-cost lending: no new loan costing more than 200 % a year to a
    /// borrower who already holds two such loans.
    #[error(
        "the borrower already holds {held} loans with a full cost of credit above 200 %: \
         no further such loan (the high-cost lending limit)"
    )]
    HighCostLoanLimit { held: u16 },
}
