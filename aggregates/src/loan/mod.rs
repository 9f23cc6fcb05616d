//! Loans: the contract's money rules (353-FZ limits, the full cost of credit, the debt and how a
//! payment is applied to it).

pub mod law;
pub mod ledger;
pub mod psk;
