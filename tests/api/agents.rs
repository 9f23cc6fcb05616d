//! Agents: registered by an admin, their codes on new customers' applications.

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::{json, Value};

use crate::onboarding::{application, with_card};

/// An agent registered by an admin: their id and referral code.
pub(crate) async fn agent(app: &TestApp, admin: &str, login: &str) -> (String, String) {
    let body = json!({
        "kind": "sole_trader",
        "name": "Петров Пётр Петрович",
        "inn": "500100732259",
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223399"},
        "login": login,
        "password": "agent password 1",
        "plan": {"percent_of_principal": "5", "first_loan_bonus_kopecks": 30000,
                 "cap_per_loan_kopecks": 100000}
    });
    let created = app
        .post_as(admin, "/api/v1/staff/agents", Some(&body))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let code = created.body["code"].as_str().unwrap().to_string();
    assert_eq!(created.body["link"], format!("/?ref={code}"));
    (created.body["agent_id"].as_str().unwrap().to_string(), code)
}

async fn attributions(app: &TestApp) -> Vec<Value> {
    app.settle().await;
    sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'ClientAttributed'")
        .fetch_all(&app.db.sqlx)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_customer_with_a_live_code_becomes_the_agents_client() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let (agent_id, code) = agent(&app, &admin, "agent@k911.ru").await;

    // The agent logs in like staff.
    let login = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "agent@k911.ru", "password": "agent password 1"}),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{:#}", login.body);
    assert_eq!(login.body["role"], "agent");

    let mut body = application("+79160000071", Some("a71@example.ru"), "000071");
    body["referral_code"] = json!(code.to_lowercase());
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    assert_eq!(
        applied.body["referral"],
        json!({"code": code, "attributed": true, "reason": null})
    );
    let attributed = attributions(&app).await;
    assert_eq!(attributed.len(), 1, "{attributed:?}");
    assert_eq!(
        attributed[0]["ClientAttributed"]["application_id"],
        applied.body["application_id"]
    );
    let (stream,): (String,) =
        sqlx::query_as("SELECT aggregate_id FROM events WHERE event_type = 'ClientAttributed'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(stream, agent_id);
}

#[tokio::test]
async fn an_unknown_or_suspended_code_attributes_nobody_and_the_application_goes_on() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let (agent_id, code) = agent(&app, &admin, "agent@k911.ru").await;

    let mut body = application("+79160000072", Some("a72@example.ru"), "000072");
    body["referral_code"] = json!("NOSUCHCODE");
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    assert_eq!(applied.body["referral"]["attributed"], false);
    assert_eq!(applied.body["referral"]["reason"], "unknown_code");

    let suspended = app
        .post_as(
            &admin,
            &format!("/api/v1/staff/agents/{agent_id}/suspend"),
            None,
        )
        .await;
    assert_eq!(suspended.status, StatusCode::OK, "{:#}", suspended.body);
    let mut body = application("+79160000073", Some("a73@example.ru"), "000073");
    body["referral_code"] = json!(code);
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{:#}", applied.body);
    assert_eq!(applied.body["referral"]["reason"], "agent_suspended");
    assert!(attributions(&app).await.is_empty());

    // Support sees the agents, read only; only admins manage them.
    let support = app.staff("olga@k911.ru", Role::Support).await;
    app.settle().await;
    let listed = app.get_as(&support, "/api/v1/staff/agents").await;
    assert_eq!(listed.status, StatusCode::OK, "{:#}", listed.body);
    assert_eq!(listed.body[0]["code"], code.as_str());
    assert_eq!(listed.body[0]["status"], "suspended");
    let one = app
        .get_as(&support, &format!("/api/v1/staff/agents/{agent_id}"))
        .await;
    assert_eq!(one.body["agent_id"], agent_id.as_str());
    assert!(!one.body.to_string().contains("Петров"), "{:#}", one.body);
    app.post_as(
        &support,
        &format!("/api/v1/staff/agents/{agent_id}/resume"),
        None,
    )
    .await
    .problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_agent_is_refused_with_every_field_named() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let body = json!({
        "kind": "partnership", "name": "", "inn": "123", "login": "nope",
        "password": "short",
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223399"},
        "plan": {"percent_of_principal": "five"}
    });
    let fields = app
        .post_as(&admin, "/api/v1/staff/agents", Some(&body))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields,
        [
            "kind",
            "name",
            "inn",
            "login",
            "password",
            "plan.percent_of_principal"
        ]
    );
    // A person's 12-digit INN does not make a company.
    let mut company = json!({
        "kind": "company", "name": "ООО «Партнёр»", "inn": "500100732259",
        "login": "partner@k911.ru", "password": "agent password 1",
        "payout": {"method": "ewallet", "provider": "yoomoney", "wallet_id": "410011223399"},
        "plan": {"percent_of_principal": "5"}
    });
    let fields = app
        .post_as(&admin, "/api/v1/staff/agents", Some(&company))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["inn"]);
    company["inn"] = json!("7707083893");
    let created = app
        .post_as(&admin, "/api/v1/staff/agents", Some(&company))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
}

/// The events of `event_type` the agent's stream holds, as payloads.
async fn agent_events(app: &TestApp, agent_id: &str, event_type: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE aggregate_id = $1 AND event_type = $2 ORDER BY sequence",
    )
    .bind(agent_id)
    .bind(event_type)
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap()
}

/// A referred client's loan earns the agent commission when it is paid out, decided by the
/// agent from the events; returned in full on day 5, the commission is taken back.
#[tokio::test]
async fn a_referred_loan_paid_out_earns_and_returned_within_14_days_loses_the_commission() {
    let app = crate::payments::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let (agent_id, code) = agent(&app, &admin, "agent@k911.ru").await;
    let phone = "+79160000074";
    let mut body = application(phone, Some("a74@example.ru"), "000074");
    body["referral_code"] = json!(code);
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(
        applied.body["referral"]["attributed"], true,
        "{:#}",
        applied.body
    );
    let id = applied.body["application_id"].as_str().unwrap();
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let approved = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{id}/approve"),
            None,
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
    let password = crate::onboarding::password_in(
        &crate::notifications::sms_with(&app, phone, "пароль").await,
    );
    let token = crate::cabinet::login(&app, "a74@example.ru", &password).await;
    let (loan_id, contract) = crate::loans::sign_first_loan(&app, &token, phone).await;
    crate::loans::move_clock(&app, "2026-11-27T12:05:00+03:00").await;

    // 5 % of 15 000 ₽ is 750 ₽, with the 300 ₽ first-loan bonus 1 050 ₽: held to the 1 000 ₽ cap.
    let accrued = agent_events(&app, &agent_id, "CommissionAccrued").await;
    assert_eq!(accrued.len(), 1, "{accrued:?}");
    let accrued = &accrued[0]["CommissionAccrued"];
    assert_eq!(accrued["loan_id"], loan_id.as_str());
    assert_eq!(accrued["amount"], 100_000);
    assert_eq!(accrued["first_loan"], true);
    assert_eq!(accrued["month"], "2026-11");

    // Day 5: the borrower returns the whole loan (353-FZ art. 11).
    crate::loans::move_clock(&app, "2026-12-02T12:00:00+03:00").await;
    let token = crate::cabinet::login(&app, "a74@example.ru", &password).await;
    let loan = app
        .get_as(&token, &format!("/api/v1/me/loans/{loan_id}"))
        .await;
    let due = loan.body["outstanding"]["total_kopecks"].as_i64().unwrap();
    let paid = crate::payments::notify(
        &app,
        &crate::payments::notification("ret-1", &contract, due, "2026-12-02T11:00:00+03:00"),
        crate::payments::SECRET,
    )
    .await;
    assert_eq!(paid.status, StatusCode::OK, "{:#}", paid.body);
    app.settle().await;
    let reversed = agent_events(&app, &agent_id, "CommissionReversed").await;
    assert_eq!(reversed.len(), 1, "{reversed:?}");
    assert_eq!(reversed[0]["CommissionReversed"]["amount"], 100_000);
    assert_eq!(reversed[0]["CommissionReversed"]["month"], "2026-12");

    // The ledger and the statements as analysts read them, the same after a rebuild.
    let ledger: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT kind, amount_kopecks, month FROM read.agent_commissions ORDER BY position",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(
        ledger,
        [
            ("accrual".into(), 100_000, "2026-11".into()),
            ("reversal".into(), 100_000, "2026-12".into()),
        ]
    );
    let clients: Vec<(String,)> = sqlx::query_as("SELECT agent_id::text FROM read.agent_clients")
        .fetch_all(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(clients, [(agent_id.clone(),)]);
    let tables = [
        ("read.agents", "agent_id"),
        ("read.agent_clients", "customer_id"),
        ("read.agent_commissions", "position"),
        ("read.agent_statements", "month"),
    ];
    let mut before = vec![];
    for (table, order) in tables {
        before.push(app.dump(table, order).await);
    }
    app.app.followers.rebuild(Some("agents")).await.unwrap();
    for ((table, order), rows) in tables.into_iter().zip(before) {
        assert_eq!(app.dump(table, order).await, rows, "{table}");
    }

    // The months close once they have ended: November pays 1 000 ₽; December nets −1 000 ₽,
    // carried on, never paid.
    crate::loans::move_clock(&app, "2027-01-01T09:00:00+03:00").await;
    app.app.tidy_up().await;
    app.settle().await;
    let statements: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT month, status, net_kopecks, payable_kopecks, carried_out
           FROM read.agent_statements ORDER BY month",
    )
    .fetch_all(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(
        statements,
        [
            ("2026-11".into(), "closed".into(), 100_000, 100_000, 0),
            ("2026-12".into(), "closed".into(), -100_000, 0, -100_000),
        ]
    );
    // Closing again changes nothing.
    app.app.tidy_up().await;
    assert_eq!(
        agent_events(&app, &agent_id, "StatementClosed").await.len(),
        2
    );

    // The agent downloads each month as a PDF: its lines and the totals it closed with.
    let me = crate::cabinet::login(&app, "agent@k911.ru", "agent password 1").await;
    let pdf = |month: &str| format!("/api/v1/agent/statements/{month}/pdf");
    let november_pdf = app.get_as(&me, &pdf("2026-11")).await;
    assert_eq!(november_pdf.status, StatusCode::OK);
    assert_eq!(november_pdf.content_type(), "application/pdf");
    let text = crate::loans::contract_text(&november_pdf.bytes);
    for expected in [
        "Отчёт агента за ноябрь 2026",
        &format!("Агент: код {code}"),
        "Статус отчёта: закрыт 02.12.2026",
        &loan_id,
        "Вознаграждение за первый заём клиента",
        "К выплате 1 000,00 ₽",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    let text = crate::loans::contract_text(&app.get_as(&me, &pdf("2026-12")).await.bytes);
    for expected in [
        "Сторно: заём возвращён в течение 14 дней",
        "Итого за месяц −1 000,00 ₽",
        "К выплате 0,00 ₽",
        "Переносится на следующий месяц −1 000,00 ₽",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    for missing in ["2025-01", "ноябрь"] {
        app.get_as(&me, &pdf(missing))
            .await
            .problem(StatusCode::NOT_FOUND);
    }

    // Staff see the statements: support one agent's, finance every closed one to pay.
    let support = app.staff("sue@k911.ru", Role::Support).await;
    let theirs = app
        .get_as(
            &support,
            &format!("/api/v1/staff/agents/{agent_id}/statements"),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::OK, "{:#}", theirs.body);
    let months: Vec<&str> = theirs
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["month"].as_str().unwrap())
        .collect();
    assert_eq!(months, ["2026-12", "2026-11"]);
    let finance = app.staff("fin@k911.ru", Role::Finance).await;
    let closed = app.get_as(&finance, "/api/v1/staff/agent-statements").await;
    assert_eq!(
        closed.body.as_array().unwrap().len(),
        2,
        "{:#}",
        closed.body
    );
    assert_eq!(closed.body[0]["code"], code.as_str());
    assert_eq!(closed.body[0]["payable_kopecks"], 100_000);
    app.get_as(&finance, "/api/v1/staff/agent-statements?status=owed")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get_as(&me, "/api/v1/staff/agent-statements")
        .await
        .problem(StatusCode::FORBIDDEN);

    // Finance approves November's statement: paid once, through the payout provider.
    let november = format!("/api/v1/staff/agents/{agent_id}/statements/2026-11/pay");
    // Months have passed: the admin's session has ended; only finance may pay anyway.
    let admin = crate::cabinet::login(&app, "root@k911.ru", k911_tests::STAFF_PASSWORD).await;
    app.post_as(&admin, &november, None)
        .await
        .problem(StatusCode::FORBIDDEN);
    let approved = app.post_as(&finance, &november, None).await;
    assert_eq!(approved.status, StatusCode::ACCEPTED, "{:#}", approved.body);
    app.post_as(&finance, &november, None)
        .await
        .problem(StatusCode::CONFLICT);
    let december = format!("/api/v1/staff/agents/{agent_id}/statements/2026-12/pay");
    app.post_as(&finance, &december, None)
        .await
        .problem(StatusCode::CONFLICT);
    crate::loans::move_clock(&app, "2027-01-01T09:05:00+03:00").await;
    let payouts = app
        .request(axum::http::Method::GET, "/sandbox/payouts", None, &[])
        .await;
    let commission: Vec<&Value> = payouts
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "commission")
        .collect();
    assert_eq!(commission.len(), 1, "{:#}", payouts.body);
    assert_eq!(commission[0]["payout_id"], approved.body["payout_id"]);
    assert_eq!(commission[0]["amount_kopecks"], 100_000);
    assert_eq!(commission[0]["executions"], 1);
    let status: String =
        sqlx::query_scalar("SELECT status FROM read.agent_statements WHERE month = '2026-11'")
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap();
    assert_eq!(status, "paid");
    let paid = app
        .get_as(&finance, "/api/v1/staff/agent-statements?status=paid")
        .await;
    assert_eq!(paid.body[0]["month"], "2026-11", "{:#}", paid.body);
}

/// An agent logs in and sees only the clients they brought, masked; another agent and a borrower
/// see none of it, and every look is recorded.
#[tokio::test]
async fn an_agent_sees_only_their_own_clients_masked_and_every_look_is_recorded() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let (_, code) = agent(&app, &admin, "a@k911.ru").await;
    let (_, _) = agent(&app, &admin, "b@k911.ru").await;
    let phone = "+79160000091";
    let mut body = application(phone, Some("c91@example.ru"), "000091");
    body["referral_code"] = json!(code);
    let body = with_card(&app, &body).await;
    let applied = app.post("/api/v1/applications", &body).await;
    assert_eq!(
        applied.body["referral"]["attributed"], true,
        "{:#}",
        applied.body
    );
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let id = applied.body["application_id"].as_str().unwrap();
    app.post_as(
        &underwriter,
        &format!("/api/v1/staff/applications/{id}/approve"),
        None,
    )
    .await;
    app.settle().await;

    let a = crate::cabinet::login(&app, "a@k911.ru", "agent password 1").await;
    let b = crate::cabinet::login(&app, "b@k911.ru", "agent password 1").await;
    let clients = app.get_as(&a, "/api/v1/agent/clients").await;
    assert_eq!(clients.status, StatusCode::OK, "{:#}", clients.body);
    let list = clients.body.as_array().unwrap();
    assert_eq!(list.len(), 1, "{:#}", clients.body);
    assert_eq!(list[0]["name"], "Иван И.");
    assert_eq!(list[0]["phone"], "+7 916 ***-**-91");
    let text = clients.body.to_string();
    assert!(
        !text.contains("Иванов") && !text.contains("9160000091"),
        "{text}"
    );
    let client = list[0]["customer_id"].as_str().unwrap().to_string();

    let obligations = app
        .get_as(&a, &format!("/api/v1/agent/clients/{client}"))
        .await;
    assert_eq!(obligations.status, StatusCode::OK, "{:#}", obligations.body);
    assert_eq!(obligations.body["applications"][0]["status"], "approved");
    assert_eq!(obligations.body["loans"][0]["status"], "offered");

    // Agent B brought nobody: their list is empty and A's client is not found.
    let none = app.get_as(&b, "/api/v1/agent/clients").await;
    assert_eq!(none.body, json!([]));
    app.get_as(&b, &format!("/api/v1/agent/clients/{client}"))
        .await
        .problem(StatusCode::NOT_FOUND);

    // Borrowers and agents keep to their own routes.
    let password = crate::onboarding::password_in(
        &crate::notifications::sms_with(&app, phone, "пароль").await,
    );
    let borrower = crate::cabinet::login(&app, "c91@example.ru", &password).await;
    app.get_as(&borrower, "/api/v1/agent/clients")
        .await
        .problem(StatusCode::FORBIDDEN);
    app.get_as(&a, "/api/v1/me")
        .await
        .problem(StatusCode::FORBIDDEN);

    let reads: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM personal_data_reads WHERE subject_id = $1::text::uuid",
    )
    .bind(&client)
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert_eq!(reads, 2, "the list and the client's page");

    let csv = app.get_as(&a, "/api/v1/agent/statements.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.content_type().starts_with("text/csv"));
    assert!(String::from_utf8(csv.bytes)
        .unwrap()
        .starts_with("month,status,accrued_kopecks"));
}
