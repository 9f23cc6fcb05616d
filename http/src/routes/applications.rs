//! Loan applications: the public first application (= registration) and the underwriters'
//! decisions.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as JsonResponse;
use chrono::NaiveDate;
use k911_aggregates::loan_application::applicant::{
    check_birth_date, check_issue_date, Applicant, CyrillicName, DivisionCode, Employment,
    EmploymentStatus, OfficialText, Passport, PassportNumber, PassportSeries, PayoutMethod,
};
use k911_aggregates::loan_application::LoanRequest;
use k911_aggregates::money::{DailyRate, Kopecks};
use k911_aggregates::values::{Email, MessageText, Phone, Role};
use k911_commands::clock::moscow_date;
use k911_commands::onboarding::{ApplicationForm, Approval};
use k911_commands::Error as AppError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::{ApiError, FieldError};
use crate::extract::{check, given, IdPath, Json, OptionalJson};
use crate::routes::support::PublicMeta;
use crate::AppState;

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
    registration_address: String,
    #[serde(default)]
    residence_address: Option<String>,
    phone: String,
    #[serde(default)]
    email: Option<String>,
    employment: EmploymentBody,
    monthly_income_kopecks: i64,
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
}

/// Collects field errors while the form is turned into domain values.
struct Form(Vec<FieldError>);

impl Form {
    fn text<T>(
        &mut self,
        field: &str,
        raw: &str,
        parse: fn(&str) -> Result<T, k911_aggregates::values::ValueError>,
    ) -> Option<T> {
        check(&mut self.0, field, parse(raw))
    }

    fn optional<T>(
        &mut self,
        field: &str,
        raw: Option<String>,
        parse: fn(&str) -> Result<T, k911_aggregates::values::ValueError>,
    ) -> Option<Option<T>> {
        match given(raw) {
            None => Some(None),
            Some(raw) => self.text(field, &raw, parse).map(Some),
        }
    }

    fn fail(&mut self, field: &str, message: &str) {
        self.0.push(FieldError::new(field, message));
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
        let p = self.passport;
        let series = form.text(
            "applicant.passport.series",
            &p.series,
            PassportSeries::parse,
        );
        let number = form.text(
            "applicant.passport.number",
            &p.number,
            PassportNumber::parse,
        );
        let issued_on = check(
            &mut form.0,
            "applicant.passport.issued_on",
            check_issue_date(p.issued_on, self.birth_date, today),
        );
        let issued_by = form.text(
            "applicant.passport.issued_by",
            &p.issued_by,
            OfficialText::parse,
        );
        let division_code = form.text(
            "applicant.passport.division_code",
            &p.division_code,
            DivisionCode::parse,
        );
        let registration_address = form.text(
            "applicant.registration_address",
            &self.registration_address,
            OfficialText::parse,
        );
        let residence_address = form.optional(
            "applicant.residence_address",
            self.residence_address,
            OfficialText::parse,
        );
        let phone = form.text("applicant.phone", &self.phone, Phone::parse);
        let email = form.optional("applicant.email", self.email, Email::parse);
        let status = form.text(
            "applicant.employment.status",
            &self.employment.status,
            str::parse::<EmploymentStatus>,
        );
        let employer = form.optional(
            "applicant.employment.employer",
            self.employment.employer,
            OfficialText::parse,
        );
        let position = form.optional(
            "applicant.employment.position",
            self.employment.position,
            OfficialText::parse,
        );
        if status == Some(EmploymentStatus::Employed) && matches!(employer, Some(None)) {
            form.fail(
                "applicant.employment.employer",
                "must be given when employed",
            );
        }
        let income = check(
            &mut form.0,
            "applicant.monthly_income_kopecks",
            Kopecks::new(self.monthly_income_kopecks),
        );
        let passport = Passport {
            series: series?,
            number: number?,
            issued_on: issued_on?,
            issued_by: issued_by?,
            division_code: division_code?,
        };
        Some(Applicant {
            last_name: last_name?,
            first_name: first_name?,
            middle_name: middle_name?,
            birth_date: birth_date?,
            birth_place: birth_place?,
            passport,
            registration_address: registration_address?,
            residence_address: residence_address?,
            phone: phone?,
            email: email?,
            employment: Employment {
                status: status?,
                employer: employer?,
                position: position?,
            },
            monthly_income: income?,
        })
    }
}

impl PayoutBody {
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
    fn parse(self, today: NaiveDate) -> Result<ApplicationForm, ApiError> {
        let mut form = Form(vec![]);
        let applicant = self.applicant.parse(&mut form, today);
        let amount = check(
            &mut form.0,
            "loan.amount_kopecks",
            Kopecks::new(self.loan.amount_kopecks),
        );
        let term_days = check(
            &mut form.0,
            "loan.term_days",
            u16::try_from(self.loan.term_days).map_err(|_| "must be a number of days"),
        );
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
        match (applicant, amount, term_days, payout) {
            (Some(applicant), Some(amount), Some(term_days), Some(payout)) if form.0.is_empty() => {
                Ok(ApplicationForm {
                    applicant,
                    loan: LoanRequest { amount, term_days },
                    payout,
                    referral_code,
                })
            }
            _ => Err(ApiError::Invalid(form.0)),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ApplicationReceipt {
    application_id: Uuid,
    status: &'static str,
    position: i64,
}

#[utoipa::path(post, path = "/api/v1/applications", tag = "applications", request_body = ApplicationRequest, responses((status = 201, body = ApplicationReceipt), (status = 409, body = crate::error::Problem, description = "Already a customer: log in"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    PublicMeta(meta): PublicMeta,
    Json(body): Json<ApplicationRequest>,
) -> Result<(StatusCode, JsonResponse<ApplicationReceipt>), ApiError> {
    let form = body.parse(moscow_date(state.app.clock.now()))?;
    let written = state.app.apply(form, &meta).await.map_err(|e| match e {
        // The limits broken by the loan asked for are the loan fields' fault.
        AppError::Application(e) => ApiError::application(e, "loan."),
        other => other.into(),
    })?;
    Ok((
        StatusCode::CREATED,
        JsonResponse(ApplicationReceipt {
            application_id: written.id,
            status: "submitted",
            position: written.position,
        }),
    ))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApproveRequest {
    #[serde(default)]
    amount_kopecks: Option<i64>,
    #[serde(default)]
    term_days: Option<i64>,
    /// Percent per day, e.g. "0.8".
    #[serde(default)]
    daily_rate: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RejectRequest {
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Decision {
    application_id: Uuid,
    status: &'static str,
    position: i64,
}

#[utoipa::path(post, path = "/api/v1/staff/applications/{id}/approve", tag = "applications", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = ApproveRequest, responses((status = 200, body = Decision), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Already decided"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(application_id): IdPath,
    OptionalJson(body): OptionalJson<ApproveRequest>,
) -> Result<JsonResponse<Decision>, ApiError> {
    let caller = caller.require(&[Role::Underwriter])?;
    let mut errors = vec![];
    let amount = body
        .amount_kopecks
        .map(|a| check(&mut errors, "amount_kopecks", Kopecks::new(a)));
    let term_days = body.term_days.map(|t| {
        check(
            &mut errors,
            "term_days",
            u16::try_from(t).map_err(|_| "must be a number of days"),
        )
    });
    let daily_rate = body
        .daily_rate
        .map(|rate: String| check(&mut errors, "daily_rate", DailyRate::parse(&rate)));
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let approval = Approval {
        amount: amount.flatten(),
        term_days: term_days.flatten(),
        daily_rate: daily_rate.flatten(),
    };
    let written = state
        .app
        .approve_application(
            application_id,
            caller.principal.account_id,
            approval,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(Decision {
        application_id,
        status: "approved",
        position: written.position,
    }))
}

#[utoipa::path(post, path = "/api/v1/staff/applications/{id}/reject", tag = "applications", security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = RejectRequest, responses((status = 200, body = Decision), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Already decided"), (status = 422, body = crate::error::Problem)))]
pub(crate) async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    IdPath(application_id): IdPath,
    Json(body): Json<RejectRequest>,
) -> Result<JsonResponse<Decision>, ApiError> {
    let caller = caller.require(&[Role::Underwriter])?;
    let reason = MessageText::parse(&body.reason).map_err(|e| ApiError::invalid("reason", e))?;
    let written = state
        .app
        .reject_application(
            application_id,
            caller.principal.account_id,
            reason,
            &caller.meta,
        )
        .await?;
    Ok(JsonResponse(Decision {
        application_id,
        status: "rejected",
        position: written.position,
    }))
}
