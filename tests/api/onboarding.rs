//! The first application is the registration; approval opens the cabinet and says so by SMS.

use axum::http::{Method, StatusCode};
use k911_aggregates::values::Role;
use k911_commands::clock::Clock;
use k911_tests::TestApp;
use serde_json::{json, Value};

use crate::notifications::{sms_with, sms_with_n};

pub(crate) fn application(phone: &str, email: Option<&str>, passport_number: &str) -> Value {
    json!({
        "applicant": {
            "last_name": "Иванов", "first_name": "Иван", "middle_name": "Иванович",
            "birth_date": "1990-05-14", "birth_place": "г. Москва",
            "passport": {"series": "4510", "number": passport_number, "issued_on": "2010-06-01",
                         "issued_by": "ОВД Тверского района г. Москвы", "division_code": "770-001"},
            "registration_address": "г. Москва, ул. Тверская, д. 1, кв. 1",
            "residence_address": null,
            "phone": phone, "email": email,
            "employment": {"status": "employed", "employer": "ООО Ромашка", "position": "инженер"},
            "monthly_income_kopecks": 8000000
        },
        "loan": {"amount_kopecks": 1500000, "term_days": 21},
        "payout": {"method": "card", "card_token": "tok_unknown", "masked_pan": "220000******0004"},
        "consents": {"personal_data": true, "credit_history_check": true, "terms": true},
        "referral_code": null
    })
}

/// The body with its card tokenised by the sandbox provider, as a client's payment page does.
pub(crate) async fn with_card(app: &TestApp, body: &Value) -> Value {
    let mut body = body.clone();
    if body["payout"]["method"] == "card" {
        let card = json!({"pan": "2200 0000 0000 0004", "exp_month": 12, "exp_year": 2030});
        let response = app.post("/sandbox/cards", &card).await;
        assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
        body["payout"]["card_token"] = response.body["card_token"].clone();
        body["payout"]["masked_pan"] = response.body["masked_pan"].clone();
    }
    body
}

pub(crate) async fn apply(app: &TestApp, body: &Value) -> String {
    let body = with_card(app, body).await;
    let response = app.post("/api/v1/applications", &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    assert_eq!(response.body["status"], "submitted");
    assert!(response.body["position"].as_i64().unwrap() > 0);
    response.body["application_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn login(app: &TestApp, login: &str, password: &str) -> (StatusCode, Value) {
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": login, "password": password}),
        )
        .await;
    (response.status, response.body)
}

/// The password the approval SMS carries.
pub(crate) fn password_in(sms: &str) -> String {
    sms.rsplit("пароль ").next().unwrap().trim().to_string()
}

#[tokio::test]
async fn apply_approve_sms_then_log_in_with_the_password() {
    let app = TestApp::spawn().await;
    let id = apply(
        &app,
        &application("8 916 123-45-67", Some("Ivan@Example.ru"), "123456"),
    )
    .await;
    // The cabinet exists but no credential works before approval.
    assert_eq!(
        login(&app, "ivan@example.ru", "anything at all").await.0,
        StatusCode::UNAUTHORIZED
    );

    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            Some(&json!({"amount_kopecks": 1000000, "daily_rate": "0.5"})),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
    assert_eq!(approved.body["status"], "approved");

    let text = sms_with(&app, "+79161234567", "заявка одобрена").await;
    assert!(
        text.contains("заявка одобрена: 10\u{a0}000,00\u{a0}₽ на 21 дн."),
        "{text}"
    );
    assert!(text.contains("логин Ivan@example.ru"), "{text}");
    let password = password_in(&text);
    assert_eq!(password.chars().count(), 12);

    let (status, body) = login(&app, "IVAN@example.ru", &password).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["role"], "borrower");
    assert_eq!(
        login(&app, "ivan@example.ru", "wrong password").await.0,
        StatusCode::UNAUTHORIZED
    );

    // Decisions are final.
    let again = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/reject"),
            Some(&json!({"reason": "передумали"})),
        )
        .await;
    again.problem(StatusCode::CONFLICT);

    // Replaying the process manager sends no second SMS and opens nothing twice.
    app.replay_process_manager("onboarding").await;
    let decisions = sms_with_n(&app, "+79161234567", "заявка одобрена", 1).await;
    assert_eq!(decisions.len(), 1);
}

#[tokio::test]
async fn a_phone_only_customer_is_told_to_log_in_by_code_and_a_rejection_is_sent_too() {
    let app = TestApp::spawn().await;
    let phone_only = apply(&app, &application("+79160000001", None, "000001")).await;
    let rejected = apply(&app, &application("+79160000002", None, "000002")).await;
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let path = format!("/api/v1/staff/applications/{phone_only}/approve");
    assert_eq!(
        app.post_as(&underwriter, &path, None).await.status,
        StatusCode::OK
    );
    let path = format!("/api/v1/staff/applications/{rejected}/reject");
    let response = app
        .post_as(
            &underwriter,
            &path,
            Some(&json!({"reason": "ПДН выше 80 %"})),
        )
        .await;
    assert_eq!(response.body["status"], "rejected");

    let text = sms_with(&app, "+79160000001", "заявка одобрена").await;
    assert!(text.contains("15\u{a0}000,00\u{a0}₽ на 21 дн."), "{text}");
    assert!(text.contains("по номеру телефона и коду из SMS"), "{text}");
    assert!(!text.contains("пароль"), "{text}");
    sms_with(&app, "+79160000002", "отрицательное решение").await;
}

#[tokio::test]
async fn a_known_person_is_sent_to_log_in_instead_of_registering_again() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &application("+79161234567", Some("ivan@example.ru"), "123456"),
    )
    .await;
    let before = app.event_count().await;
    for (body, why) in [
        (application("+79161234567", None, "999999"), "same phone"),
        (application("+79169999999", None, "123456"), "same passport"),
        (
            application("+79169999999", Some("IVAN@example.ru"), "999999"),
            "same e-mail",
        ),
    ] {
        let body = with_card(&app, &body).await;
        let response = app.post("/api/v1/applications", &body).await;
        response.problem(StatusCode::CONFLICT);
        assert!(
            response.body["detail"].as_str().unwrap().contains("log in"),
            "{why}: {:#}",
            response.body
        );
    }
    assert_eq!(app.event_count().await, before, "nothing written");
}

#[tokio::test]
async fn every_invalid_field_is_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let before = app.event_count().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/applicant/last_name",
            json!("Ivanov"),
            "applicant.last_name",
        ),
        (
            "/applicant/first_name",
            json!("Иван1"),
            "applicant.first_name",
        ),
        (
            "/applicant/middle_name",
            json!("-"),
            "applicant.middle_name",
        ),
        (
            "/applicant/birth_date",
            json!("2009-01-01"),
            "applicant.birth_date",
        ),
        (
            "/applicant/birth_date",
            json!("1950-01-01"),
            "applicant.birth_date",
        ),
        (
            "/applicant/birth_place",
            json!(" "),
            "applicant.birth_place",
        ),
        (
            "/applicant/passport/series",
            json!("451"),
            "applicant.passport.series",
        ),
        (
            "/applicant/passport/number",
            json!("12345x"),
            "applicant.passport.number",
        ),
        (
            "/applicant/passport/issued_on",
            json!("2030-01-01"),
            "applicant.passport.issued_on",
        ),
        (
            "/applicant/passport/issued_on",
            json!("2003-01-01"),
            "applicant.passport.issued_on",
        ),
        (
            "/applicant/passport/issued_by",
            json!(""),
            "applicant.passport.issued_by",
        ),
        (
            "/applicant/passport/division_code",
            json!("770001"),
            "applicant.passport.division_code",
        ),
        (
            "/applicant/registration_address",
            json!(""),
            "applicant.registration_address",
        ),
        ("/applicant/phone", json!("+74951234567"), "applicant.phone"),
        ("/applicant/email", json!("ivan@"), "applicant.email"),
        (
            "/applicant/employment/status",
            json!("pirate"),
            "applicant.employment.status",
        ),
        (
            "/applicant/employment/employer",
            json!(null),
            "applicant.employment.employer",
        ),
        (
            "/applicant/monthly_income_kopecks",
            json!(-1),
            "applicant.monthly_income_kopecks",
        ),
        ("/loan/amount_kopecks", json!(99_999), "loan.amount_kopecks"),
        (
            "/loan/amount_kopecks",
            json!(3_000_001),
            "loan.amount_kopecks",
        ),
        ("/loan/term_days", json!(4), "loan.term_days"),
        ("/loan/term_days", json!(31), "loan.term_days"),
        ("/payout/method", json!("cash"), "payout.method"),
        (
            "/payout/masked_pan",
            json!("2200000000000004"),
            "payout.masked_pan",
        ),
        ("/payout/card_token", json!(""), "payout.card_token"),
        (
            "/consents/personal_data",
            json!(false),
            "consents.personal_data",
        ),
        (
            "/consents/credit_history_check",
            json!(false),
            "consents.credit_history_check",
        ),
        ("/consents/terms", json!(false), "consents.terms"),
    ];
    for (pointer, value, field) in cases {
        let mut body = application("+79161234567", Some("ivan@example.ru"), "123456");
        *body.pointer_mut(pointer).unwrap() = value.clone();
        let response = app.post("/api/v1/applications", &body).await;
        let fields = response.problem(StatusCode::UNPROCESSABLE_ENTITY);
        // A birth date too late also makes the passport's issue date precede the 14th birthday.
        assert!(
            fields.contains(&field.to_string()),
            "{pointer} = {value}: {:#}",
            response.body
        );
        assert!(fields.len() <= 2, "{:#}", response.body);
    }
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn only_underwriters_decide_and_within_what_was_asked() {
    let app = TestApp::spawn().await;
    let id = apply(&app, &application("+79161234567", None, "123456")).await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let approve = format!("/api/v1/staff/applications/{id}/approve");
    app.post_as(&support, &approve, None)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.request(Method::POST, &approve, None, &[])
        .await
        .problem(StatusCode::UNAUTHORIZED);
    for (body, field) in [
        (json!({"amount_kopecks": 2000000}), "amount_kopecks"),
        (json!({"term_days": 30}), "term_days"),
        (json!({"daily_rate": "0.9"}), "daily_rate"),
        (json!({"daily_rate": "much"}), "daily_rate"),
    ] {
        let response = app.post_as(&underwriter, &approve, Some(&body)).await;
        assert_eq!(
            response.problem(StatusCode::UNPROCESSABLE_ENTITY),
            vec![field]
        );
    }
    let unknown = format!(
        "/api/v1/staff/applications/{}/approve",
        uuid::Uuid::now_v7()
    );
    app.post_as(&underwriter, &unknown, None)
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_events_hold_no_plaintext_name_passport_phone_or_email() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &application("+79161234567", Some("ivan@example.ru"), "123456"),
    )
    .await;
    let events = app.dump("events", "global_position").await.join("\n");
    for secret in [
        "Иванов",
        "123456",
        "9161234567",
        "ivan@example.ru",
        "Тверская",
        "220000",
    ] {
        assert!(!events.contains(secret), "{secret} in the events");
    }
    let identities = app.dump("customer_identities", "kind").await.join("\n");
    assert!(!identities.contains("9161234567") && !identities.contains("ivan@"));
}

#[tokio::test]
async fn the_sandbox_tokenises_only_valid_live_cards() {
    let app = TestApp::spawn().await;
    for (card, field) in [
        (
            json!({"pan": "2200000000000005", "exp_month": 12, "exp_year": 2030}),
            "pan",
        ),
        (
            json!({"pan": "22000000", "exp_month": 12, "exp_year": 2030}),
            "pan",
        ),
        (
            json!({"pan": "2200000000000004", "exp_month": 13, "exp_year": 2030}),
            "exp_month",
        ),
        (
            json!({"pan": "2200000000000004", "exp_month": 10, "exp_year": 2026}),
            "exp_year",
        ),
    ] {
        let fields = app
            .post("/sandbox/cards", &card)
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields, [field], "{card}");
    }
    let card = json!({"pan": "2200000000000004", "exp_month": 11, "exp_year": 2026});
    let response = app.post("/sandbox/cards", &card).await;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.body["masked_pan"], "220000******0004");
    let token = response.body["card_token"].as_str().unwrap();
    assert!(token.starts_with("tok_"));
    // The card number itself is kept nowhere.
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sandbox_cards WHERE masked_pan LIKE '%0000000%'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(stored, 0);

    // An application must name a live token of the provider, with its masked number.
    let before = app.event_count().await;
    let mut body = application("+79161234567", None, "123456");
    let fields = app
        .post("/api/v1/applications", &body)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["payout.card_token"], "unknown token");
    body["payout"]["card_token"] = json!(token);
    body["payout"]["masked_pan"] = json!("220000******9999");
    let fields = app
        .post("/api/v1/applications", &body)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["payout.card_token"], "another card's mask");
    // Valid through the end of its month, then expired.
    body["payout"]["masked_pan"] = json!("220000******0004");
    app.clock
        .set("2026-11-30T21:00:00Z".parse().unwrap())
        .unwrap();
    let fields = app
        .post("/api/v1/applications", &body)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["payout.card_token"], "expired");
    assert_eq!(app.event_count().await, before);
}

#[tokio::test]
async fn a_rejected_applicant_may_apply_again_and_the_approval_opens_the_cabinet() {
    let app = TestApp::spawn().await;
    let body = application("+79161234567", Some("ivan@example.ru"), "123456");
    let first = apply(&app, &body).await;
    // Pending: the same person cannot apply twice.
    let pending = app
        .post("/api/v1/applications", &with_card(&app, &body).await)
        .await;
    pending.problem(StatusCode::CONFLICT);

    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    app.post_as(
        &underwriter,
        &format!("/api/v1/staff/applications/{first}/reject"),
        Some(&json!({"reason": "ПДН выше 80 %"})),
    )
    .await;
    sms_with(&app, "+79161234567", "отрицательное решение").await;
    app.settle().await;

    // Other contacts than registered are not this way: that is for support.
    let other_email = application("+79161234567", Some("other@example.ru"), "123456");
    app.post("/api/v1/applications", &with_card(&app, &other_email).await)
        .await
        .problem(StatusCode::CONFLICT);

    // With a new passport, the same phone and e-mail: a new application of the same customer.
    let again = apply(
        &app,
        &application("+79161234567", Some("ivan@example.ru"), "654321"),
    )
    .await;
    assert_ne!(again, first);
    let response = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{again}/approve"),
            None,
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    let password = password_in(&sms_with(&app, "+79161234567", "пароль").await);
    let (status, body) = login(&app, "ivan@example.ru", &password).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    app.settle().await;
    let token = body["token"].as_str().unwrap();
    let mine = app.get_as(token, "/api/v1/me/applications").await.body;
    let statuses: Vec<&str> = mine
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rejected", "approved"]);
    // The new passport now belongs to this customer as well.
    app.post(
        "/api/v1/applications",
        &with_card(&app, &application("+79169999999", None, "654321")).await,
    )
    .await
    .problem(StatusCode::CONFLICT);
}

/// The process died between registering the customer and submitting their first application: the
/// person is known but has nothing to log in to. Half an hour later the registration is released
/// and they may apply again.
#[tokio::test]
async fn a_registration_never_submitted_is_released_after_half_an_hour() {
    let app = TestApp::spawn().await;
    let (customer_id, application_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    for (kind, value) in [("phone", "+79161234567"), ("passport", "4510123456")] {
        sqlx::query(
            "INSERT INTO customer_identities (kind, hash, customer_id) VALUES ($1, $2, $3)",
        )
        .bind(kind)
        .bind(app.app.core.keys.lookup_hash(value))
        .bind(customer_id)
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    }
    let phone = k911_aggregates::values::Phone::parse("+79161234567").unwrap();
    let register = k911_aggregates::account::AccountCommand::RegisterCustomer {
        application_id,
        phone: app.app.core.keys.seal(customer_id, &phone).await.unwrap(),
        email: None,
        at: app.clock.now(),
    };
    k911_event_store::store::cqrs::<k911_aggregates::account::Account>(&app.db, ())
        .framework
        .execute(&customer_id.to_string(), register)
        .await
        .unwrap();

    let body = with_card(&app, &application("+79161234567", None, "123456")).await;
    app.post("/api/v1/applications", &body)
        .await
        .problem(StatusCode::CONFLICT);
    // Not yet: a submission may still be on its way.
    crate::loans::move_clock(&app, "2026-11-27T12:29:00+03:00").await;
    app.post("/api/v1/applications", &body)
        .await
        .problem(StatusCode::CONFLICT);
    crate::loans::move_clock(&app, "2026-11-27T12:31:00+03:00").await;
    let again = app.post("/api/v1/applications", &body).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:#}", again.body);
}

/// The application records the version of each consent's text it was given to; a client that
/// showed an older text than the one in force is told so and nothing is written.
#[tokio::test]
async fn an_application_records_the_consent_texts_and_refuses_a_stale_one() {
    let app = TestApp::spawn().await;
    let texts = app
        .request(Method::GET, "/api/v1/consents", None, &[])
        .await;
    assert_eq!(texts.status, StatusCode::OK, "{:#}", texts.body);
    let version = |consent: &str| {
        texts
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["consent"] == consent)
            .unwrap()["version"]
            .clone()
    };
    let mut body = application("+79160000041", Some("olga@example.ru"), "000041");
    body["consents"]["versions"] = json!({"personal_data": "0".repeat(64)});
    let body = crate::onboarding::with_card(&app, &body).await;
    let before = app.event_count().await;
    let stale = app.post("/api/v1/applications", &body).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{:#}", stale.body);
    assert!(stale.body["detail"]
        .as_str()
        .unwrap()
        .contains("personal_data"));
    assert_eq!(app.event_count().await, before, "nothing written");

    let mut body = body;
    body["consents"]["versions"] = json!({
        "personal_data": version("personal_data"),
        "credit_history_check": version("credit_history_check"),
        "terms": version("terms"),
    });
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    let (event_version, payload): (String, serde_json::Value) = sqlx::query_as(
        "SELECT event_version, payload FROM events WHERE event_type = 'ApplicationSubmitted'",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(event_version, "1.1");
    let recorded = &payload["ApplicationSubmitted"]["consents"];
    assert_eq!(recorded["terms"]["sha256"], version("terms"));
    assert_eq!(
        recorded["personal_data"]["sha256"],
        version("personal_data")
    );
}

/// An application started and never submitted (its request died between the account's command
/// and the application's) is released 30 minutes later, once; a submitted one never is; and each
/// run reads only the registrations after the last one it settled.
#[tokio::test]
async fn an_application_never_submitted_is_released_once_and_later_runs_read_only_newer_ones() {
    use k911_aggregates::account::{Account, AccountCommand};
    use k911_aggregates::values::Phone;

    let app = TestApp::spawn().await;
    // A submitted application, through the real route.
    crate::cabinet::customer(&app).await;
    // A registration whose application never came.
    let (customer_id, application_id) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let phone = Phone::parse("+79169990011").unwrap();
    let register = AccountCommand::RegisterCustomer {
        application_id,
        phone: app.app.core.keys.seal(customer_id, &phone).await.unwrap(),
        email: None,
        at: app.clock.now(),
    };
    k911_event_store::store::cqrs::<Account>(&app.db, ())
        .framework
        .execute(&customer_id.to_string(), register)
        .await
        .unwrap();
    let release = || app.app.onboarding.release_unsubmitted_applications();
    let mark = || async {
        sqlx::query_scalar::<_, i64>("SELECT position FROM housekeeping_marks")
            .fetch_optional(&app.db.sqlx)
            .await
            .unwrap()
    };

    // Too young to judge: nothing released, and the mark stays before it.
    assert_eq!(release().await.unwrap(), 0);
    assert_eq!(mark().await, None);
    app.clock
        .set(app.clock.now() + chrono::Duration::minutes(31))
        .unwrap();
    assert_eq!(release().await.unwrap(), 1);
    let abandoned: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = 'ApplicationClosed'",
    )
    .bind(customer_id.to_string())
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(abandoned.len(), 1, "{abandoned:?}");
    assert_eq!(
        abandoned[0]["ApplicationClosed"]["outcome"], "abandoned",
        "{abandoned:?}"
    );
    // Past both registrations now: the next run reads neither, and releases nothing twice.
    let registered: i64 = sqlx::query_scalar(
        "SELECT max(global_position) FROM events WHERE event_type = 'CustomerRegistered'",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(mark().await, Some(registered));
    assert_eq!(release().await.unwrap(), 0);
}
