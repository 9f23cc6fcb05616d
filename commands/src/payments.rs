//! Repayments from outside channels (Sberbank Online, payment terminals): notifications signed
//! per channel and registry files, each payment applied exactly once, whichever way and however
//! often it arrives. A payment no loan can take is held for staff, never dropped.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use k911_aggregates::incoming_payment::{
    ExternalPayment, IncomingPayment, IncomingPaymentCommand, IncomingPaymentError,
};
use k911_aggregates::loan::{LoanCommand, LoanError};
use k911_aggregates::money::Kopecks;
use sha2::Sha256;
use uuid::Uuid;

use crate::clock::moscow_date;
use crate::lending::contract_digits;
use crate::registry::{self, RegistryLayout};
use crate::{App, CommandMeta, Error};

/// The channels payments come from.
pub const CHANNELS: [&str; 2] = ["sberbank_online", "terminal"];

/// The HMAC secret of each open channel; a channel without one takes no notifications.
pub type ChannelSecrets = BTreeMap<String, String>;

impl From<IncomingPaymentError> for Error {
    fn from(e: IncomingPaymentError) -> Self {
        match e {
            IncomingPaymentError::NotHeld => Error::NotFound,
            other => Error::PaymentMatch(other.to_string()),
        }
    }
}

/// Checks a reported payment's fields, the same for a notification and a registry row: every
/// failure with the field it concerns.
pub fn external_payment(
    channel: &str,
    external_id: &str,
    contract_number: &str,
    amount_kopecks: i64,
    paid_at: DateTime<Utc>,
) -> Result<ExternalPayment, Vec<(&'static str, String)>> {
    let mut errors = vec![];
    let mut text = |field: &'static str, value: &str, max: usize| {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > max {
            errors.push((field, format!("must be 1 to {max} characters")));
        }
        value.to_string()
    };
    let external_id = text("external_id", external_id, 100);
    let contract_number = text("contract_number", contract_number, 50);
    let amount = Kopecks::new(amount_kopecks)
        .ok()
        .filter(|k| *k > Kopecks::ZERO);
    match amount {
        Some(amount) if errors.is_empty() => Ok(ExternalPayment {
            channel: channel.to_string(),
            external_id,
            contract_number,
            amount,
            paid_at,
        }),
        amount => {
            if amount.is_none() {
                errors.push(("amount_kopecks", "must be more than zero".to_string()));
            }
            Err(errors)
        }
    }
}

/// What became of a reported payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Applied,
    Duplicate,
    Unmatched,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Duplicate => "duplicate",
            Self::Unmatched => "unmatched",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentReceipt {
    pub status: PaymentStatus,
    pub payment_id: Uuid,
    /// The log position of the payment's last event (0 when nothing was ever written).
    pub position: i64,
}

impl App {
    /// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `channel`'s secret. A
    /// closed channel verifies nothing.
    pub fn payment_signature_ok(&self, channel: &str, body: &[u8], signature: &str) -> bool {
        let Some(secret) = self.settings.payment_secrets.get(channel) else {
            return false;
        };
        let Ok(signature) = hex::decode(signature.trim()) else {
            return false;
        };
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(body);
        // Constant-time comparison.
        mac.verify_slice(&signature).is_ok()
    }

    /// Applies a reported payment to its loan, once; holds it when no loan can take it.
    pub async fn receive_payment(
        &self,
        payment: ExternalPayment,
        meta: &CommandMeta,
    ) -> Result<PaymentReceipt, Error> {
        let payment_id = payment.id();
        let receipt = |status, position| PaymentReceipt {
            status,
            payment_id,
            position,
        };
        // Held before (its loan could not take it then): it stays with staff.
        let inbox: IncomingPayment = self.load(&self.incoming_store, payment_id).await?;
        if inbox.received() {
            return Ok(receipt(
                PaymentStatus::Duplicate,
                self.position_of("IncomingPayment", payment_id).await?,
            ));
        }
        let loan_id: Option<Uuid> =
            sqlx::query_scalar("SELECT loan_id FROM contracts WHERE digits = $1")
                .bind(contract_digits(&payment.contract_number))
                .fetch_optional(&self.db.sqlx)
                .await?;
        let reason = match loan_id {
            None => "no contract with this number".to_string(),
            Some(loan_id) => {
                let loan = self.load(&self.loan_store, loan_id).await?;
                if loan.has_payment(&payment.channel, &payment.external_id) {
                    let position = self.position_of("Loan", loan_id).await?;
                    return Ok(receipt(PaymentStatus::Duplicate, position));
                }
                let apply = LoanCommand::ApplyPayment {
                    channel: payment.channel.clone(),
                    external_id: payment.external_id.clone(),
                    amount: payment.amount,
                    paid_at: payment.paid_at,
                    paid_on: moscow_date(payment.paid_at),
                };
                match self.execute(&self.loans, loan_id, apply, meta).await {
                    Ok(written) => return Ok(receipt(PaymentStatus::Applied, written.position)),
                    Err(Error::Loan(LoanError::NotIssued)) => {
                        "the loan under this contract has not been issued".to_string()
                    }
                    Err(other) => return Err(other),
                }
            }
        };
        let hold = IncomingPaymentCommand::Hold {
            payment,
            reason,
            at: self.clock.now(),
        };
        let written = self.execute(&self.incoming, payment_id, hold, meta).await?;
        Ok(receipt(PaymentStatus::Unmatched, written.position))
    }

    async fn position_of(&self, aggregate_type: &str, id: Uuid) -> Result<i64, Error> {
        Ok(
            k911_event_store::store::last_checkpoint(&self.db, aggregate_type, &id.to_string())
                .await?
                .map_or(0, |c| c.global_position),
        )
    }
}

impl App {
    /// A staff member sends a held payment to the loan of `contract_number`: the match is
    /// recorded, then the loan applies the payment (once, under its channel and external id).
    pub async fn match_payment(
        &self,
        payment_id: Uuid,
        contract_number: &str,
        staff_id: Uuid,
        meta: &CommandMeta,
    ) -> Result<crate::Written, Error> {
        let inbox: IncomingPayment = self.load(&self.incoming_store, payment_id).await?;
        let payment = inbox.payment().cloned().ok_or(Error::NotFound)?;
        let loan_id: Uuid = sqlx::query_scalar("SELECT loan_id FROM contracts WHERE digits = $1")
            .bind(contract_digits(contract_number))
            .fetch_optional(&self.db.sqlx)
            .await?
            .ok_or(Error::UnknownContract)?;
        let loan = self.load(&self.loan_store, loan_id).await?;
        if !matches!(
            loan.status(),
            k911_aggregates::loan::LoanStatus::Active | k911_aggregates::loan::LoanStatus::Closed
        ) {
            return Err(LoanError::NotIssued.into());
        }
        let matched = IncomingPaymentCommand::Match {
            loan_id,
            staff_id,
            at: self.clock.now(),
        };
        self.execute(&self.incoming, payment_id, matched, meta)
            .await?;
        let apply = LoanCommand::ApplyPayment {
            channel: payment.channel,
            external_id: payment.external_id,
            amount: payment.amount,
            paid_at: payment.paid_at,
            paid_on: moscow_date(payment.paid_at),
        };
        self.execute(&self.loans, loan_id, apply, meta).await
    }

    /// `GET /api/v1/staff/payments/unmatched`: money no loan could take, oldest first.
    pub async fn unmatched_payments(
        &self,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<k911_projections::loans::UnmatchedRow>, Error> {
        let client = self.db.pg.get().await?;
        Ok(k911_projections::loans::unmatched(&**client, limit, offset).await?)
    }
}

/// What an import did, row by row.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub applied: usize,
    pub duplicate: usize,
    pub unmatched: usize,
    pub rejected: usize,
    /// `(line, why)` of every rejected row.
    pub errors: Vec<(u64, String)>,
}

impl App {
    /// `k911 payments import`: every row of a registry, each payment applied once (a row seen
    /// before, by file or by notification, is a duplicate). A bad row is reported with its line
    /// and the rest go on; `progress` hears of every row done. Fails only when the file cannot be
    /// read as CSV with the registry's header.
    pub async fn import_payments(
        &self,
        channel: &str,
        layout: RegistryLayout,
        file: impl std::io::Read,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport, Error> {
        if !CHANNELS.contains(&channel) {
            return Err(Error::Storage(format!(
                "unknown channel {channel}: one of {}",
                CHANNELS.join(", ")
            )));
        }
        let rows = registry::rows(layout, channel, file).map_err(Error::Storage)?;
        let meta = CommandMeta {
            actor_role: Some(format!("payment_registry:{channel}")),
            channel: "registry",
            ..CommandMeta::default()
        };
        let mut report = ImportReport::default();
        for (line, row) in rows {
            match row {
                Ok(payment) => match self.receive_payment(payment, &meta).await?.status {
                    PaymentStatus::Applied => report.applied += 1,
                    PaymentStatus::Duplicate => report.duplicate += 1,
                    PaymentStatus::Unmatched => report.unmatched += 1,
                },
                Err(why) => {
                    report.rejected += 1;
                    report.errors.push((line, why));
                }
            }
            progress(line);
        }
        Ok(report)
    }
}
