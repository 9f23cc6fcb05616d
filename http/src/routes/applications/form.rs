//! The application form's bodies and their parsing into domain values. Every failing field is
//! named by its path in the body (`applicant.passport.number`), all of them at once.

use chrono::NaiveDate;
use k911_aggregates::loan_application::applicant::{
    check_birth_date, check_issue_date, Applicant, CyrillicName, DivisionCode, Employment,
    EmploymentStatus, OfficialText, Passport, PassportNumber, PassportSeries, PayoutMethod,
    ProfileChanges,
};
use k911_aggregates::loan_application::consents::Consent;
use k911_aggregates::loan_application::LoanRequest;
use k911_aggregates::money::Kopecks;
use k911_aggregates::regions::{LocalTimeZone, RegionCode};
use k911_aggregates::values::{Email, Phone};
use k911_commands::onboarding::ApplicationForm;
use k911_commands::onboarding::RepeatForm;
use serde::Deserialize;

use crate::error::{ApiError, FieldError};
use crate::extract::{check, given};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicationRequest {
    applicant: ApplicantBody,
    loan: LoanBody,
    payout: PayoutBody,
    consents: ConsentsBody,
    #[serde(default)]
    referral_code: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicantBody {
    last_name: String,
    first_name: String,
    #[serde(default)]
    middle_name: Option<String>,
    birth_date: NaiveDate,
    birth_place: String,
    passport: PassportBody,
    registration_address: AddressBody,
    #[serde(default)]
    residence_address: Option<AddressBody>,
    /// The applicant's time zone (IANA name, e.g. `Asia/Vladivostok`): by default their
    /// residence region's (else registration region's); required where the region spans several
    /// zones (Yakutia `14`, Sakhalin `65`).
    #[serde(default)]
    time_zone: Option<String>,
    phone: String,
    #[serde(default)]
    email: Option<String>,
    employment: EmploymentBody,
    monthly_income_kopecks: i64,
}

/// An address: its text, or an object with its text and the two-digit code of its subject of
/// the Russian Federation (`region_code`, e.g. `"77"` Moscow, `"25"` Primorsky Krai), which
/// gives the applicant's time zone.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum AddressBody {
    Text(String),
    WithRegion { text: String, region_code: String },
}

impl AddressBody {
    fn parts(self) -> (String, Option<String>) {
        match self {
            Self::Text(text) => (text, None),
            Self::WithRegion { text, region_code } => (text, Some(region_code)),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PassportBody {
    series: String,
    number: String,
    issued_on: NaiveDate,
    issued_by: String,
    division_code: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmploymentBody {
    /// employed, self_employed, unemployed, retired, student
    status: String,
    #[serde(default)]
    employer: Option<String>,
    #[serde(default)]
    position: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoanBody {
    amount_kopecks: i64,
    term_days: i64,
}

/// `{"method": "card", card_token, masked_pan}` or `{"method": "ewallet", provider, wallet_id}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayoutBody {
    method: String,
    #[serde(default)]
    card_token: Option<String>,
    #[serde(default)]
    masked_pan: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    wallet_id: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentsBody {
    personal_data: bool,
    credit_history_check: bool,
    terms: bool,
    /// The versions (SHA-256, as `GET /api/v1/consents` gives them) of the texts the applicant
    /// was shown; each must be the one in force (409 otherwise). Not given: the texts in force
    /// are recorded.
    #[serde(default)]
    versions: Option<ConsentVersionsBody>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConsentVersionsBody {
    #[serde(default)]
    personal_data: Option<String>,
    #[serde(default)]
    credit_history_check: Option<String>,
    #[serde(default)]
    terms: Option<String>,
}

/// Collects field errors while the form is turned into domain values.
struct Form(Vec<FieldError>);

impl Form {
    fn text<T, E: ToString>(
        &mut self,
        field: &str,
        raw: &str,
        parse: fn(&str) -> Result<T, E>,
    ) -> Option<T> {
        check(&mut self.0, field, parse(raw))
    }

    fn optional<T, E: ToString>(
        &mut self,
        field: &str,
        raw: Option<String>,
        parse: fn(&str) -> Result<T, E>,
    ) -> Option<Option<T>> {
        match given(raw) {
            None => Some(None),
            Some(raw) => self.text(field, &raw, parse).map(Some),
        }
    }

    fn fail(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
    }

    fn income(&mut self, field: &str, kopecks: i64) -> Option<Kopecks> {
        check(&mut self.0, field, Kopecks::new(kopecks))
    }

    /// The parsed value if no field failed, else every failure.
    fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ApiError::Invalid(self.0)),
        }
    }
}

impl ApplicantBody {
    fn parse(self, form: &mut Form, today: NaiveDate) -> Option<Applicant> {
        let last_name = form.text("applicant.last_name", &self.last_name, CyrillicName::parse);
        let first_name = form.text(
            "applicant.first_name",
            &self.first_name,
            CyrillicName::parse,
        );
        let middle_name = form.optional(
            "applicant.middle_name",
            self.middle_name,
            CyrillicName::parse,
        );
        let birth_date = check(
            &mut form.0,
            "applicant.birth_date",
            check_birth_date(self.birth_date, today),
        );
        let birth_place = form.text(
            "applicant.birth_place",
            &self.birth_place,
            OfficialText::parse,
        );
        let passport = self
            .passport
            .parse(form, "applicant.passport", self.birth_date, today);
        let (registration_text, registration_region) = self.registration_address.parts();
        let registration_address = form.text(
            "applicant.registration_address",
            &registration_text,
            OfficialText::parse,
        );
        let registration_region = form.optional(
            "applicant.registration_address.region_code",
            registration_region,
            RegionCode::parse,
        );
        let (residence_text, residence_region) =
            match self.residence_address.map(AddressBody::parts) {
                Some((text, region)) => (Some(text), region),
                None => (None, None),
            };
        let residence_address = form.optional(
            "applicant.residence_address",
            residence_text,
            OfficialText::parse,
        );
        let residence_region = form.optional(
            "applicant.residence_address.region_code",
            residence_region,
            RegionCode::parse,
        );
        let asked_zone = form.optional("applicant.time_zone", self.time_zone, LocalTimeZone::parse);
        let time_zone = match (asked_zone, residence_region, registration_region) {
            (Some(asked), Some(residence), Some(registration)) => check(
                &mut form.0,
                "applicant.time_zone",
                LocalTimeZone::for_addresses(asked, residence, registration),
            ),
            _ => None,
        };
        let phone = form.text("applicant.phone", &self.phone, Phone::parse);
        let email = form.optional("applicant.email", self.email, Email::parse);
        let employment = self.employment.parse(form, "applicant.employment");
        let income = form.income(
            "applicant.monthly_income_kopecks",
            self.monthly_income_kopecks,
        );
        Some(Applicant {
            last_name: last_name?,
            first_name: first_name?,
            middle_name: middle_name?,
            birth_date: birth_date?,
            birth_place: birth_place?,
            passport: passport?,
            registration_address: registration_address?,
            registration_region: registration_region?,
            residence_address: residence_address?,
            residence_region: residence_region?,
            time_zone: time_zone?,
            phone: phone?,
            email: email?,
            employment: employment?,
            monthly_income: income?,
        })
    }
}

impl PassportBody {
    fn parse(
        self,
        form: &mut Form,
        prefix: &str,
        birth_date: NaiveDate,
        today: NaiveDate,
    ) -> Option<Passport> {
        let series = form.text(
            &format!("{prefix}.series"),
            &self.series,
            PassportSeries::parse,
        );
        let number = form.text(
            &format!("{prefix}.number"),
            &self.number,
            PassportNumber::parse,
        );
        let issued_on = check(
            &mut form.0,
            &format!("{prefix}.issued_on"),
            check_issue_date(self.issued_on, birth_date, today),
        );
        let issued_by = form.text(
            &format!("{prefix}.issued_by"),
            &self.issued_by,
            OfficialText::parse,
        );
        let division_code = form.text(
            &format!("{prefix}.division_code"),
            &self.division_code,
            DivisionCode::parse,
        );
        Some(Passport {
            series: series?,
            number: number?,
            issued_on: issued_on?,
            issued_by: issued_by?,
            division_code: division_code?,
        })
    }
}

impl EmploymentBody {
    fn parse(self, form: &mut Form, prefix: &str) -> Option<Employment> {
        let status = form.text(
            &format!("{prefix}.status"),
            &self.status,
            str::parse::<EmploymentStatus>,
        );
        let employer = form.optional(
            &format!("{prefix}.employer"),
            self.employer,
            OfficialText::parse,
        );
        let position = form.optional(
            &format!("{prefix}.position"),
            self.position,
            OfficialText::parse,
        );
        if status == Some(EmploymentStatus::Employed) && matches!(employer, Some(None)) {
            form.fail(&format!("{prefix}.employer"), "must be given when employed");
        }
        Some(Employment {
            status: status?,
            employer: employer?,
            position: position?,
        })
    }
}

impl LoanBody {
    fn parse(self, form: &mut Form) -> Option<LoanRequest> {
        let amount = check(
            &mut form.0,
            "loan.amount_kopecks",
            Kopecks::new(self.amount_kopecks),
        );
        let term_days = check(
            &mut form.0,
            "loan.term_days",
            u16::try_from(self.term_days).map_err(|_| "must be a number of days"),
        );
        Some(LoanRequest {
            amount: amount?,
            term_days: term_days?,
        })
    }
}

impl PayoutBody {
    /// The payout method alone (an agent's), every failure named under `payout.`.
    pub(crate) fn parse_alone(self) -> Result<PayoutMethod, ApiError> {
        let mut form = Form(vec![]);
        let parsed = self.parse(&mut form);
        form.finish(parsed)
    }

    fn parse(self, form: &mut Form) -> Option<PayoutMethod> {
        let mut required = |field: &str, value: Option<String>| {
            let value = given(value);
            if value.is_none() {
                form.fail(field, "must not be empty");
            }
            value.map(|v| v.trim().to_string())
        };
        match self.method.as_str() {
            "card" => {
                let card_token = required("payout.card_token", self.card_token);
                let masked_pan = required("payout.masked_pan", self.masked_pan);
                if let Some(pan) = &masked_pan {
                    let ok = pan.len() == 16
                        && pan.char_indices().all(|(i, c)| match i {
                            6..=11 => c == '*',
                            _ => c.is_ascii_digit(),
                        });
                    if !ok {
                        form.fail("payout.masked_pan", "must look like 220000******0004");
                        return None;
                    }
                }
                Some(PayoutMethod::Card {
                    card_token: card_token?,
                    masked_pan: masked_pan?,
                })
            }
            "ewallet" => {
                let provider = required("payout.provider", self.provider);
                let wallet_id = required("payout.wallet_id", self.wallet_id);
                Some(PayoutMethod::Ewallet {
                    provider: provider?,
                    wallet_id: wallet_id?,
                })
            }
            _ => {
                form.fail("payout.method", "must be one of: card, ewallet");
                None
            }
        }
    }
}

impl ApplicationRequest {
    pub(crate) fn parse(self, today: NaiveDate) -> Result<ApplicationForm, ApiError> {
        let mut form = Form(vec![]);
        let applicant = self.applicant.parse(&mut form, today);
        let loan = self.loan.parse(&mut form);
        let payout = self.payout.parse(&mut form);
        let c = self.consents;
        for (given, field) in [
            (c.personal_data, "consents.personal_data"),
            (c.credit_history_check, "consents.credit_history_check"),
            (c.terms, "consents.terms"),
        ] {
            if !given {
                form.fail(field, "this consent is required to apply");
            }
        }
        let referral_code = given(self.referral_code).map(|c| c.trim().to_string());
        let versions = c.versions.unwrap_or_default();
        let seen_consents = [
            (Consent::PersonalData, versions.personal_data),
            (Consent::CreditHistoryCheck, versions.credit_history_check),
            (Consent::Terms, versions.terms),
        ]
        .into_iter()
        .filter_map(|(consent, seen)| Some((consent, given(seen)?.trim().to_string())))
        .collect();
        let parsed = (|| {
            Some(ApplicationForm {
                applicant: applicant?,
                loan: loan?,
                payout: payout?,
                referral_code,
                seen_consents,
                consents: None,
            })
        })();
        form.finish(parsed)
    }
}

/// A repeat application: `{loan, changes?, payout?}`; what is not sent stays as the profile has it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepeatRequest {
    loan: LoanBody,
    #[serde(default)]
    changes: Option<ChangesBody>,
    #[serde(default)]
    payout: Option<PayoutBody>,
    /// The consent to request the credit history, given anew (the one given before lapses six
    /// months after it was given, or when withdrawn).
    #[serde(default)]
    consents: Option<RepeatConsentsBody>,
}

/// Consents given again with a repeat application.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepeatConsentsBody {
    /// `true`: the customer consents to a credit history request (218-FZ).
    credit_history_check: bool,
    /// The version (SHA-256, as `GET /api/v1/consents` gives it) of the text shown.
    #[serde(default)]
    version: Option<String>,
}

/// The profile fields a returning customer may change; phone and e-mail change through support.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangesBody {
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    middle_name: Option<String>,
    #[serde(default)]
    passport: Option<PassportBody>,
    #[serde(default)]
    registration_address: Option<String>,
    #[serde(default)]
    residence_address: Option<String>,
    #[serde(default)]
    employment: Option<EmploymentBody>,
    #[serde(default)]
    monthly_income_kopecks: Option<i64>,
}

impl RepeatRequest {
    /// Parses against the customer's birth date (for the age limits and a new passport's date).
    pub(crate) fn parse(
        self,
        birth_date: NaiveDate,
        today: NaiveDate,
    ) -> Result<RepeatForm, ApiError> {
        let mut form = Form(vec![]);
        let loan = self.loan.parse(&mut form);
        check(
            &mut form.0,
            "applicant.birth_date",
            check_birth_date(birth_date, today),
        );
        let c = self.changes.unwrap_or_default();
        let last_name = form.optional("changes.last_name", c.last_name, CyrillicName::parse);
        let first_name = form.optional("changes.first_name", c.first_name, CyrillicName::parse);
        let middle_name = form.optional("changes.middle_name", c.middle_name, CyrillicName::parse);
        let passport = c
            .passport
            .map(|p| p.parse(&mut form, "changes.passport", birth_date, today));
        let registration_address = form.optional(
            "changes.registration_address",
            c.registration_address,
            OfficialText::parse,
        );
        let residence_address = form.optional(
            "changes.residence_address",
            c.residence_address,
            OfficialText::parse,
        );
        let employment = c
            .employment
            .map(|e| e.parse(&mut form, "changes.employment"));
        let income = c
            .monthly_income_kopecks
            .map(|k| form.income("changes.monthly_income_kopecks", k));
        let payout = self.payout.map(|p| p.parse(&mut form));
        let credit_history_consent = match self.consents {
            None => None,
            Some(RepeatConsentsBody {
                credit_history_check: false,
                ..
            }) => {
                form.fail(
                    "consents.credit_history_check",
                    "leave the consents out, or give this one",
                );
                None
            }
            Some(RepeatConsentsBody { version, .. }) => Some(
                given(version)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default(),
            ),
        };
        let parsed = (|| {
            Some(RepeatForm {
                credit_history_consent,
                loan: loan?,
                changes: ProfileChanges {
                    last_name: last_name?,
                    first_name: first_name?,
                    middle_name: middle_name?,
                    passport: passport.map_or(Some(None), |p| p.map(Some))?,
                    registration_address: registration_address?,
                    residence_address: residence_address?,
                    employment: employment.map_or(Some(None), |e| e.map(Some))?,
                    monthly_income: income.map_or(Some(None), |i| i.map(Some))?,
                    payout: payout.map_or(Some(None), |p| p.map(Some))?,
                },
            })
        })();
        form.finish(parsed)
    }
}
