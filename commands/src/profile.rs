//! A customer's profile: what their latest decided application says about them, the start of a
//! repeat application and the contacts of a question from the cabinet.

use std::sync::Arc;

use k911_aggregates::account::{Account, AccountKind};
use k911_aggregates::loan_application::applicant::{Applicant, PayoutMethod};
use k911_aggregates::loan_application::LoanApplication;
use k911_event_store::store::Store;
use uuid::Uuid;

use crate::app::Core;
use crate::Error;

/// Reads customers' profiles from their own events.
#[derive(Clone)]
pub struct Profiles {
    pub(crate) core: Core,
    pub(crate) accounts: Arc<Store<Account>>,
    pub(crate) applications: Arc<Store<LoanApplication>>,
}

impl Profiles {
    /// The customer's profile and payout method as their latest decided application has them.
    /// Only for an opened cabinet.
    pub async fn current(&self, customer_id: Uuid) -> Result<(Applicant, PayoutMethod), Error> {
        let account = self.core.load(&self.accounts, customer_id).await?;
        let AccountKind::Customer {
            latest_application,
            opened_by: Some(_),
            ..
        } = account.kind()
        else {
            return Err(Error::NotFound);
        };
        let application = self
            .core
            .load(&self.applications, *latest_application)
            .await?;
        let (applicant, payout) = application.profile().ok_or(Error::NotFound)?;
        Ok((
            self.core.keys.open(applicant).await?,
            self.core.keys.open(payout).await?,
        ))
    }
}
