//! The application form in steps (the first application is the registration): what was typed
//! travels with each step, every step is checked by the API's own parser (only the errors of the
//! steps seen so far are shown), and the last one submits through the same use case as
//! `POST /api/v1/applications`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use chrono::NaiveDate;
use k911_aggregates::loan_application::consents::Consent;
use k911_commands::onboarding::Onboarding;
use k911_commands::Error as AppError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::csrf::{CheckedForm, CsrfToken, WithCsrf};
use super::{render, Chrome, PageError};
use crate::error::ApiError;
use crate::extract::Today;
use crate::limits::{Action, ClientAddr};
use crate::routes::applications::form::ApplicationRequest;
use crate::routes::support::PublicMeta;
use crate::AppState;

const STEPS: [(u8, &str); 6] = [
    (1, "Заём и контакты"),
    (2, "Паспорт"),
    (3, "Адрес"),
    (4, "Работа и доход"),
    (5, "Куда перечислить"),
    (6, "Согласия"),
];
const LAST_STEP: u8 = 6;
const CARD_STEP: u8 = 5;

/// One field of the form: where it is asked, how, and which field of the API body it fills.
struct Spec {
    name: &'static str,
    /// The field's path in the API body, as its errors name it.
    path: &'static str,
    label: &'static str,
    step: u8,
    kind: &'static str,
    required: bool,
    hint: &'static str,
    autocomplete: &'static str,
    /// What is wrong when the parser refuses it, in the reader's words.
    error: &'static str,
}

const fn spec(
    name: &'static str,
    path: &'static str,
    label: &'static str,
    step: u8,
    kind: &'static str,
    error: &'static str,
) -> Spec {
    Spec {
        name,
        path,
        label,
        step,
        kind,
        required: true,
        hint: "",
        autocomplete: "",
        error,
    }
}

const fn optional(mut s: Spec) -> Spec {
    s.required = false;
    s
}

const fn hinted(mut s: Spec, hint: &'static str) -> Spec {
    s.hint = hint;
    s
}

const fn auto(mut s: Spec, autocomplete: &'static str) -> Spec {
    s.autocomplete = autocomplete;
    s
}

// One line per field: the table reads better than rustfmt's one argument per line.
#[rustfmt::skip]
const SPECS: &[Spec] = &[
    spec("amount", "loan.amount_kopecks", "Сумма, ₽", 1, "number", "Сумма вне пределов продукта"),
    spec("term", "loan.term_days", "Срок, дней", 1, "number", "Срок вне пределов продукта"),
    auto(spec("last_name", "applicant.last_name", "Фамилия", 1, "text", "Фамилия — кириллицей, как в паспорте"), "family-name"),
    auto(spec("first_name", "applicant.first_name", "Имя", 1, "text", "Имя — кириллицей, как в паспорте"), "given-name"),
    auto(optional(spec("middle_name", "applicant.middle_name", "Отчество", 1, "text", "Отчество — кириллицей, как в паспорте")), "additional-name"),
    auto(spec("birth_date", "applicant.birth_date", "Дата рождения", 1, "date", "Заём выдаётся с 18 лет; проверьте дату рождения"), "bday"),
    spec("birth_place", "applicant.birth_place", "Место рождения", 1, "text", "Укажите место рождения, как в паспорте"),
    auto(hinted(spec("phone", "applicant.phone", "Мобильный телефон", 1, "tel", "Телефон в формате +7 900 000-00-00"), "На него придут решение и коды"), "tel"),
    auto(hinted(optional(spec("email", "applicant.email", "E-mail", 1, "email", "Проверьте адрес электронной почты")), "С e-mail вход по паролю; без него — по коду из SMS"), "email"),
    hinted(spec("passport_series", "applicant.passport.series", "Серия паспорта", 2, "text", "Серия — 4 цифры"), "4 цифры"),
    hinted(spec("passport_number", "applicant.passport.number", "Номер паспорта", 2, "text", "Номер — 6 цифр"), "6 цифр"),
    spec("passport_issued_on", "applicant.passport.issued_on", "Дата выдачи", 2, "date", "Проверьте дату выдачи паспорта"),
    spec("passport_issued_by", "applicant.passport.issued_by", "Кем выдан", 2, "text", "Укажите, кем выдан паспорт"),
    hinted(spec("passport_division_code", "applicant.passport.division_code", "Код подразделения", 2, "text", "Код подразделения — в формате 000-000"), "000-000"),
    auto(spec("registration_address", "applicant.registration_address", "Адрес регистрации", 3, "text", "Укажите адрес регистрации"), "street-address"),
    hinted(optional(spec("registration_region", "applicant.registration_address.region_code", "Код региона регистрации", 3, "text", "Код региона — две цифры, например 77")), "Две цифры: 77 — Москва, 25 — Приморский край"),
    optional(spec("residence_address", "applicant.residence_address", "Адрес проживания, если другой", 3, "text", "Проверьте адрес проживания")),
    optional(spec("residence_region", "applicant.residence_address.region_code", "Код региона проживания", 3, "text", "Код региона — две цифры")),
    hinted(optional(spec("time_zone", "applicant.time_zone", "Часовой пояс", 3, "text", "Часовой пояс не из вашего региона")), "Нужен, только если в регионе их несколько, например Asia/Yakutsk"),
    spec("employment_status", "applicant.employment.status", "Занятость", 4, "select", "Выберите занятость"),
    optional(spec("employer", "applicant.employment.employer", "Работодатель", 4, "text", "Укажите работодателя")),
    optional(spec("position", "applicant.employment.position", "Должность", 4, "text", "Проверьте должность")),
    hinted(spec("monthly_income", "applicant.monthly_income_kopecks", "Доход в месяц, ₽", 4, "number", "Укажите доход в рублях"), "По нему считается показатель долговой нагрузки"),
    spec("payout_method", "payout.method", "Способ получения", 5, "select", "Выберите способ получения"),
    hinted(optional(spec("wallet_id", "payout.wallet_id", "Номер кошелька ЮMoney", 5, "text", "Укажите номер кошелька")), "Для кошелька ЮMoney: 41001…"),
    spec("card_token", "payout.card_token", "", 5, "hidden", "Привяжите карту"),
    spec("masked_pan", "payout.masked_pan", "", 5, "hidden", "Привяжите карту"),
    spec("consent_personal_data", "consents.personal_data", "Согласен на обработку персональных данных для проверки кредитной истории", 6, "checkbox", "Без этого согласия заявку не рассмотреть"),
    spec("consent_credit_history", "consents.credit_history_check", "Согласен на запрос кредитной истории в бюро кредитных историй", 6, "checkbox", "Без этого согласия заявку не рассмотреть"),
    spec("consent_terms", "consents.terms", "Ознакомлен с общими условиями и правилами предоставления займов", 6, "checkbox", "Нужно ознакомиться с условиями"),
    // An agent's code, carried from `/?ref=CODE`; an unknown one never stops the application.
    spec("referral_code", "referral_code", "", 1, "hidden", "Код приглашения не подошёл"),
    // The versions of the texts shown, sent back so a text changed meanwhile is caught.
    spec("version_personal_data", "consents.versions.personal_data", "", 6, "hidden", "Текст изменился"),
    spec("version_credit_history_check", "consents.versions.credit_history_check", "", 6, "hidden", "Текст изменился"),
    spec("version_terms", "consents.versions.terms", "", 6, "hidden", "Текст изменился"),
];

/// The consents' texts, as the last step links them.
const TEXTS: [(Consent, &str); 3] = [
    (
        Consent::PersonalData,
        "Согласие на обработку персональных данных",
    ),
    (
        Consent::CreditHistoryCheck,
        "Согласие на запрос кредитной истории",
    ),
    (
        Consent::Terms,
        "Общие условия договора потребительского займа",
    ),
];

const EMPLOYMENT: [(&str, &str); 5] = [
    ("employed", "Работаю по найму"),
    ("self_employed", "Самозанятый или ИП"),
    ("unemployed", "Не работаю"),
    ("retired", "Пенсионер"),
    ("student", "Студент"),
];
const PAYOUT: [(&str, &str); 2] = [("ewallet", "Кошелёк ЮMoney"), ("card", "Банковская карта")];

/// A field as the page shows it.
pub(crate) struct FieldView {
    name: &'static str,
    label: &'static str,
    step: u8,
    kind: &'static str,
    required: bool,
    hint: &'static str,
    autocomplete: &'static str,
    value: String,
    error: Option<&'static str>,
    options: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "apply.html")]
struct ApplyPage {
    chrome: Chrome,
    steps: Vec<(u8, &'static str)>,
    step: u8,
    step_title: &'static str,
    last_step: u8,
    card_step: u8,
    fields: Vec<FieldView>,
    errors: Vec<(&'static str, &'static str)>,
    notice: Option<&'static str>,
    submitted: Option<uuid::Uuid>,
    /// The application brought its customer to the agent whose code it carried.
    referred: bool,
    /// The consents' texts in force: title and link.
    texts: Vec<(&'static str, String)>,
}

/// What was typed, by field name.
#[derive(Deserialize, Default)]
#[serde(transparent)]
pub(crate) struct Typed(HashMap<String, String>);

impl WithCsrf for Typed {
    fn csrf(&self) -> &str {
        self.0.get("csrf").map_or("", String::as_str)
    }
}

impl Typed {
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", |v| v.trim())
    }
}

impl ApplyPage {
    fn new(chrome: Chrome, typed: &Typed, step: u8, errors: &[&'static Spec]) -> Self {
        let fields = SPECS
            .iter()
            .map(|s| FieldView {
                name: s.name,
                label: s.label,
                step: s.step,
                kind: s.kind,
                required: s.required,
                hint: s.hint,
                autocomplete: s.autocomplete,
                value: typed.get(s.name).to_string(),
                error: errors.iter().find(|e| e.name == s.name).map(|e| e.error),
                options: match s.name {
                    "employment_status" => EMPLOYMENT.to_vec(),
                    "payout_method" => PAYOUT.to_vec(),
                    _ => vec![],
                },
            })
            .collect();
        Self {
            chrome,
            steps: STEPS.to_vec(),
            step,
            step_title: STEPS[usize::from(step) - 1].1,
            last_step: LAST_STEP,
            card_step: CARD_STEP,
            fields,
            errors: errors.iter().map(|e| (e.name, e.error)).collect(),
            notice: None,
            submitted: None,
            referred: false,
            texts: vec![],
        }
    }
}

/// The consents' texts in force, for the last step: their links, and their versions as hidden
/// fields (unless the form carries the versions it was shown already).
async fn texts_in_force(
    onboarding: &Onboarding,
    typed: &mut Typed,
) -> Result<Vec<(&'static str, String)>, PageError> {
    let texts = onboarding.consent_texts().await?;
    Ok(TEXTS
        .iter()
        .map(|(consent, title)| {
            let text = texts.of(*consent);
            let shown = typed
                .0
                .entry(format!("version_{}", consent.as_str()))
                .or_default();
            if shown.is_empty() {
                shown.clone_from(&text.sha256);
            }
            (
                *title,
                format!("/api/v1/documents/{}/file", text.document_id),
            )
        })
        .collect())
}

#[derive(Deserialize)]
pub(crate) struct Start {
    amount: Option<String>,
    term: Option<String>,
    /// An agent's referral code, from the site's `/?ref=CODE`.
    #[serde(rename = "ref")]
    referral: Option<String>,
}

/// `GET /apply`: the first step, with the calculator's amount and term if it came from there.
pub(crate) async fn start(
    State(state): State<AppState>,
    csrf: CsrfToken,
    Query(start): Query<Start>,
) -> Result<impl IntoResponse, PageError> {
    let mut typed = Typed::default();
    typed
        .0
        .insert("amount".into(), start.amount.unwrap_or_default());
    typed
        .0
        .insert("term".into(), start.term.unwrap_or_default());
    typed
        .0
        .insert("referral_code".into(), start.referral.unwrap_or_default());
    let page = ApplyPage::new(Chrome::new(&state, csrf.token), &typed, 1, &[]);
    Ok((csrf.jar, render(&page)?))
}

/// `POST /apply`: the next step, this one again with its errors, or (from the last) the
/// application itself.
pub(crate) async fn step(
    State(state): State<AppState>,
    State(onboarding): State<Onboarding>,
    Today(today): Today,
    PublicMeta(meta): PublicMeta,
    Extension(client): Extension<ClientAddr>,
    csrf: CsrfToken,
    CheckedForm(mut typed): CheckedForm<Typed>,
) -> Result<Response, PageError> {
    let step = typed
        .get("step")
        .parse::<u8>()
        .ok()
        .filter(|s| (1..=LAST_STEP).contains(s))
        .ok_or(PageError::BadForm)?;
    let chrome = Chrome::new(&state, csrf.token);
    if !typed.get("back").is_empty() {
        let page = ApplyPage::new(chrome, &typed, step - 1, &[]);
        return Ok((csrf.jar, render(&page)?).into_response());
    }
    let (request, mut refused) = body(&typed);
    let parsed = match request.parse(today) {
        Ok(form) => Some(form),
        Err(ApiError::Invalid(errors)) => {
            refused.extend(errors.iter().filter_map(|e| spec_of(&e.field)));
            None
        }
        Err(other) => return Err(other.into()),
    };
    let mut shown: Vec<&'static Spec> = vec![];
    for spec in refused {
        if spec.step <= step && !shown.iter().any(|s| s.name == spec.name) {
            shown.push(spec);
        }
    }
    if let Some(first) = shown.iter().map(|s| s.step).min() {
        let page = ApplyPage::new(chrome, &typed, first, &shown);
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf.jar, render(&page)?).into_response());
    }
    let Some(form) = parsed.filter(|_| step == LAST_STEP) else {
        let next = step + 1;
        let texts = if next == LAST_STEP {
            texts_in_force(&onboarding, &mut typed).await?
        } else {
            vec![]
        };
        let mut page = ApplyPage::new(chrome, &typed, next, &[]);
        page.texts = texts;
        return Ok((csrf.jar, render(&page)?).into_response());
    };
    state.limits.admit(Action::Application, client.0)?;
    match onboarding.apply(form, &meta).await {
        Ok((written, referral)) => {
            let mut page = ApplyPage::new(chrome, &typed, step, &[]);
            page.submitted = Some(written.id);
            page.referred = referral.is_some_and(|r| r.attributed());
            Ok((StatusCode::CREATED, csrf.jar, render(&page)?).into_response())
        }
        Err(AppError::ConsentTextChanged(_)) => {
            for name in [
                "version_personal_data",
                "version_credit_history_check",
                "version_terms",
                "consent_personal_data",
                "consent_credit_history",
                "consent_terms",
            ] {
                typed.0.remove(name);
            }
            let texts = texts_in_force(&onboarding, &mut typed).await?;
            let mut page = ApplyPage::new(chrome, &typed, LAST_STEP, &[]);
            page.texts = texts;
            page.notice = Some(
                "Текст согласия изменился: прочитайте новую редакцию и подтвердите согласия снова.",
            );
            Ok((StatusCode::CONFLICT, csrf.jar, render(&page)?).into_response())
        }
        Err(AppError::KnownCustomer) => {
            let mut page = ApplyPage::new(chrome, &typed, step, &[]);
            page.notice =
                Some("Вы уже наш клиент: войдите в личный кабинет и подайте повторную заявку там.");
            Ok((StatusCode::CONFLICT, csrf.jar, render(&page)?).into_response())
        }
        Err(AppError::Application(e)) => match ApiError::application(e, "loan.") {
            ApiError::Invalid(errors) => {
                let shown: Vec<&'static Spec> =
                    errors.iter().filter_map(|e| spec_of(&e.field)).collect();
                let page = ApplyPage::new(chrome, &typed, 1, &shown);
                Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf.jar, render(&page)?).into_response())
            }
            other => Err(other.into()),
        },
        Err(other) => Err(other.into()),
    }
}

fn spec_of(path: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.path == path)
}

/// The API's body from what was typed, and the fields that could not even be read (a date or
/// a number that is none): those are refused here, the rest by the API's parser.
fn body(typed: &Typed) -> (ApplicationRequest, Vec<&'static Spec>) {
    let mut refused = vec![];
    let text = |name: &str| Value::from(typed.get(name));
    let optional = |name: &str| match typed.get(name) {
        "" => Value::Null,
        v => Value::from(v),
    };
    let mut number = |name: &'static str, scale: i64| -> Value {
        let raw = typed.get(name).replace([' ', '\u{a0}'], "");
        match raw.parse::<i64>().ok().and_then(|n| n.checked_mul(scale)) {
            Some(n) => Value::from(n),
            None => {
                refused.extend(SPECS.iter().find(|s| s.name == name));
                Value::from(0)
            }
        }
    };
    let amount = number("amount", 100);
    let term = number("term", 1);
    let income = number("monthly_income", 100);
    let mut date = |name: &'static str| -> Value {
        let raw = typed.get(name);
        let parsed = NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .or_else(|_| NaiveDate::parse_from_str(raw, "%d.%m.%Y"));
        match parsed {
            Ok(day) => Value::from(day.to_string()),
            Err(_) => {
                refused.extend(SPECS.iter().find(|s| s.name == name));
                Value::from("0001-01-01")
            }
        }
    };
    let birth_date = date("birth_date");
    let issued_on = date("passport_issued_on");
    let address =
        |text_name: &str, region_name: &str| match (typed.get(text_name), typed.get(region_name)) {
            ("", _) => Value::Null,
            (text, "") => Value::from(text),
            (text, region) => json!({"text": text, "region_code": region}),
        };
    let registration = match address("registration_address", "registration_region") {
        Value::Null => Value::from(""),
        given => given,
    };
    let body = json!({
        "applicant": {
            "last_name": text("last_name"),
            "first_name": text("first_name"),
            "middle_name": optional("middle_name"),
            "birth_date": birth_date,
            "birth_place": text("birth_place"),
            "passport": {
                "series": text("passport_series"),
                "number": text("passport_number"),
                "issued_on": issued_on,
                "issued_by": text("passport_issued_by"),
                "division_code": text("passport_division_code"),
            },
            "registration_address": registration,
            "residence_address": address("residence_address", "residence_region"),
            "time_zone": optional("time_zone"),
            "phone": text("phone"),
            "email": optional("email"),
            "employment": {
                "status": text("employment_status"),
                "employer": optional("employer"),
                "position": optional("position"),
            },
            "monthly_income_kopecks": income,
        },
        "loan": {"amount_kopecks": amount, "term_days": term},
        "referral_code": optional("referral_code"),
        "payout": {
            "method": text("payout_method"),
            "card_token": optional("card_token"),
            "masked_pan": optional("masked_pan"),
            "provider": "yoomoney",
            "wallet_id": optional("wallet_id"),
        },
        "consents": {
            "personal_data": typed.get("consent_personal_data") == "yes",
            "credit_history_check": typed.get("consent_credit_history") == "yes",
            "terms": typed.get("consent_terms") == "yes",
            "versions": {
                "personal_data": optional("version_personal_data"),
                "credit_history_check": optional("version_credit_history_check"),
                "terms": optional("version_terms"),
            },
        },
    });
    let request = serde_json::from_value(body).expect("the page builds the API's body shape");
    (request, refused)
}

#[cfg(test)]
mod tests {
    use super::SPECS;

    /// Every field of the API's body the parser can refuse has a place on the form.
    #[test]
    fn every_field_has_a_step_and_a_message() {
        for spec in SPECS {
            assert!((1..=super::LAST_STEP).contains(&spec.step), "{}", spec.name);
            assert!(!spec.error.is_empty(), "{}", spec.name);
        }
        let names: std::collections::BTreeSet<_> = SPECS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), SPECS.len(), "field names repeat");
    }
}
