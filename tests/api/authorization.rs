//! The authorization matrix: every protected route against every role, and one borrower
//! against another's data.

use axum::http::{Method, StatusCode};
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::cabinet::{customer, customer_with};

const ALL: &[Role] = &[
    Role::Borrower,
    Role::Underwriter,
    Role::Support,
    Role::Compliance,
    Role::Analyst,
    Role::Admin,
];

/// Each protected route, a body that passes its shape checks, and the roles it serves.
fn routes(application_id: &str) -> Vec<(Method, String, Option<Value>, &'static [Role])> {
    let unknown = Uuid::now_v7();
    let faq = json!({"question": "Как продлить заём?", "answer": "В личном кабинете."});
    vec![
        (Method::GET, "/api/v1/me".into(), None, &[Role::Borrower]),
        (
            Method::GET,
            "/api/v1/me/data-export".into(),
            None,
            &[Role::Borrower],
        ),
        (
            Method::GET,
            "/api/v1/me/applications".into(),
            None,
            &[Role::Borrower],
        ),
        (
            Method::GET,
            format!("/api/v1/me/applications/{application_id}"),
            None,
            &[Role::Borrower],
        ),
        (
            Method::POST,
            "/api/v1/me/applications".into(),
            Some(json!({"loan": {"amount_kopecks": 100000, "term_days": 10}})),
            &[Role::Borrower],
        ),
        (
            Method::POST,
            "/api/v1/me/social-links".into(),
            Some(json!({"provider": "vk"})),
            &[Role::Borrower],
        ),
        (
            Method::DELETE,
            "/api/v1/me/social-links/vk".into(),
            None,
            &[Role::Borrower],
        ),
        (
            Method::PUT,
            "/api/v1/me/password".into(),
            Some(json!({"current_password": "not the password", "new_password": "a long new one"})),
            ALL,
        ),
        (
            Method::GET,
            "/api/v1/staff/applications".into(),
            None,
            &[Role::Underwriter],
        ),
        (
            Method::GET,
            format!("/api/v1/staff/applications/{unknown}?purpose=audit"),
            None,
            &[Role::Underwriter],
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{unknown}/approve"),
            None,
            &[Role::Underwriter],
        ),
        (
            Method::POST,
            format!("/api/v1/staff/applications/{unknown}/reject"),
            Some(json!({"reason": "ПДН"})),
            &[Role::Underwriter],
        ),
        (
            Method::GET,
            "/api/v1/staff/support/queue".into(),
            None,
            &[Role::Support],
        ),
        (
            Method::POST,
            "/api/v1/staff/support/queue/next".into(),
            None,
            &[Role::Support],
        ),
        (
            Method::GET,
            format!("/api/v1/staff/support/tickets/{unknown}"),
            None,
            &[Role::Support],
        ),
        (
            Method::POST,
            format!("/api/v1/staff/support/tickets/{unknown}/reply"),
            Some(json!({"text": "Ответ"})),
            &[Role::Support],
        ),
        (
            Method::POST,
            format!("/api/v1/staff/support/tickets/{unknown}/close"),
            None,
            &[Role::Support],
        ),
        (
            Method::POST,
            "/api/v1/staff/faq".into(),
            Some(faq.clone()),
            &[Role::Support, Role::Admin],
        ),
        (
            Method::PUT,
            format!("/api/v1/staff/faq/{unknown}"),
            Some(faq),
            &[Role::Support, Role::Admin],
        ),
        (
            Method::DELETE,
            format!("/api/v1/staff/faq/{unknown}"),
            None,
            &[Role::Support, Role::Admin],
        ),
        (
            Method::POST,
            "/api/v1/staff/documents".into(),
            Some(json!({})),
            &[Role::Admin],
        ),
        (
            Method::DELETE,
            format!("/api/v1/staff/documents/{unknown}"),
            None,
            &[Role::Admin],
        ),
        (
            Method::GET,
            "/api/v1/compliance/audit".into(),
            None,
            &[Role::Compliance],
        ),
        (
            Method::GET,
            format!("/api/v1/compliance/aggregates/LoanApplication/{application_id}/events"),
            None,
            &[Role::Compliance],
        ),
        (
            Method::GET,
            format!("/api/v1/compliance/aggregates/LoanApplication/{application_id}/state"),
            None,
            &[Role::Compliance],
        ),
        (
            Method::GET,
            "/api/v1/compliance/disclosures".into(),
            None,
            &[Role::Compliance],
        ),
        (
            Method::POST,
            "/api/v1/compliance/disclosures".into(),
            Some(json!({
                "subject_id": unknown,
                "basis": {"kind": "court", "court": "Суд", "case_number": "1", "dated": "2026-12-01"},
                "asked": "Сведения",
                "scope": {"categories": ["loans"]}
            })),
            &[Role::Compliance],
        ),
        (
            Method::POST,
            format!("/api/v1/compliance/disclosures/{unknown}/file"),
            None,
            &[Role::Compliance],
        ),
        (
            Method::GET,
            "/api/v1/compliance/log/head".into(),
            None,
            &[Role::Compliance],
        ),
        (
            Method::GET,
            "/api/v1/me/consents".into(),
            None,
            &[Role::Borrower],
        ),
        (
            Method::POST,
            "/api/v1/me/consents/credit_history_check/withdraw".into(),
            None,
            &[Role::Borrower],
        ),
        (
            Method::GET,
            "/api/v1/compliance/erasures".into(),
            None,
            &[Role::Compliance],
        ),
        (
            Method::POST,
            format!("/api/v1/staff/customers/{unknown}/erase"),
            None,
            &[Role::Compliance],
        ),
    ]
}

#[tokio::test]
async fn every_protected_route_serves_its_roles_only() {
    let app = TestApp::spawn().await;
    let (borrower, underwriter, application_id, _) = customer(&app).await;
    let mut tokens = vec![(Role::Borrower, borrower), (Role::Underwriter, underwriter)];
    for (login, role) in [
        ("anna@k911.ru", Role::Support),
        ("kira@k911.ru", Role::Compliance),
        ("lev@k911.ru", Role::Analyst),
        ("root@k911.ru", Role::Admin),
    ] {
        tokens.push((role, app.staff(login, role).await));
    }
    for (method, path, body, allowed) in routes(&application_id) {
        let anonymous = app.request(method.clone(), &path, body.as_ref(), &[]).await;
        anonymous.problem(StatusCode::UNAUTHORIZED);
        let forged = app
            .request(
                method.clone(),
                &path,
                body.as_ref(),
                &[("authorization", "Bearer forged-token")],
            )
            .await;
        forged.problem(StatusCode::UNAUTHORIZED);
        for (role, token) in &tokens {
            let auth = format!("Bearer {token}");
            let response = app
                .request(
                    method.clone(),
                    &path,
                    body.as_ref(),
                    &[("authorization", &auth)],
                )
                .await;
            if allowed.contains(role) {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&response.status),
                    "{method} {path} as {role}: {} {:#}",
                    response.status,
                    response.body
                );
            } else {
                assert_eq!(
                    response.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role}: {:#}",
                    response.body
                );
            }
        }
    }
}

#[tokio::test]
async fn a_borrower_never_sees_another_borrowers_data() {
    let app = TestApp::spawn().await;
    let (a, _, a_application, _) = customer(&app).await;
    let (b, _, b_application, _) =
        customer_with(&app, "+79160000002", "petr@example.ru", "000002").await;
    app.settle().await;

    // Another's application does not exist for them.
    app.get_as(&a, &format!("/api/v1/me/applications/{b_application}"))
        .await
        .problem(StatusCode::NOT_FOUND);
    let own = app
        .get_as(&b, &format!("/api/v1/me/applications/{b_application}"))
        .await;
    assert_eq!(own.status, StatusCode::OK);

    let a_list = app.get_as(&a, "/api/v1/me/applications").await.body;
    let ids: Vec<&str> = a_list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["application_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a_application.as_str()]);

    let a_me = app.get_as(&a, "/api/v1/me").await.body;
    let b_me = app.get_as(&b, "/api/v1/me").await.body;
    assert_eq!(a_me["contacts"]["email"], "ivan@example.ru");
    assert_eq!(b_me["contacts"]["email"], "petr@example.ru");
    assert_ne!(a_me["customer_id"], b_me["customer_id"]);
}
