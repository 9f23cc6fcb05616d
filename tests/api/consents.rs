//! Consents (issue #16): the cabinet shows the texts a borrower consented to; a credit bureau is
//! asked only under a live consent to it (218-FZ art. 6 part 9: six months, not withdrawn), and
//! a refused request is recorded, not sent.

use axum::http::StatusCode;
use k911_tests::TestApp;
use serde_json::{json, Value};

use crate::cabinet::customer;
use crate::loans::move_clock;

const WITHDRAW: &str = "/api/v1/me/consents/credit_history_check/withdraw";

async fn my_consents(app: &TestApp, token: &str) -> Value {
    app.settle().await;
    let response = app.get_as(token, "/api/v1/me/consents").await;
    assert_eq!(response.status, StatusCode::OK, "{:#}", response.body);
    response.body
}

/// The consents' texts in force, as the public form shows them.
async fn consent_texts(app: &TestApp) -> Value {
    app.request(axum::http::Method::GET, "/api/v1/consents", None, &[])
        .await
        .body
}

/// A repeat application from the cabinet, its consents as given: its id.
async fn apply_again(app: &TestApp, token: &str, consents: Option<Value>) -> String {
    let mut body = json!({"loan": {"amount_kopecks": 500000, "term_days": 10}});
    if let Some(consents) = consents {
        body["consents"] = consents;
    }
    let response = app
        .post_as(token, "/api/v1/me/applications", Some(&body))
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    response.body["application_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn decide(app: &TestApp, underwriter: &str, id: &str, how: &str) -> k911_tests::TestResponse {
    let body = (how == "reject").then(|| json!({"reason": "нет согласия на запрос КИ"}));
    app.post_as(
        underwriter,
        &format!("/api/v1/staff/applications/{id}/{how}"),
        body.as_ref(),
    )
    .await
}

/// How many credit history requests of each outcome the log holds.
async fn requests(app: &TestApp) -> (i64, i64) {
    let count = |event_type: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&app.db.sqlx)
            .await
            .unwrap()
    };
    (
        count("CreditHistoryRequested").await,
        count("CreditHistoryRequestRefused").await,
    )
}

#[tokio::test]
async fn the_cabinet_shows_each_consent_with_the_text_it_was_given_to() {
    let app = TestApp::spawn().await;
    let (token, _, application_id, _) = customer(&app).await;
    let texts = consent_texts(&app).await;
    let mine = my_consents(&app, &token).await;
    let given = mine["consents"].as_array().unwrap();
    assert_eq!(given.len(), 3, "{mine:#}");
    for text in texts.as_array().unwrap() {
        let consent = given
            .iter()
            .find(|c| c["consent"] == text["consent"])
            .unwrap_or_else(|| panic!("{} not shown", text["consent"]));
        assert_eq!(consent["application_id"], application_id.as_str());
        assert_eq!(consent["document_id"], text["document_id"]);
        assert_eq!(consent["text_sha256"], text["version"]);
        assert!(consent["title"].as_str().is_some_and(|t| !t.is_empty()));
    }
    // Given on 27 November 2026: live until 27 May 2027.
    let standing = &mine["credit_history_check"];
    assert_eq!(standing["live"], true, "{standing:#}");
    assert_eq!(standing["lapses_on"], "2027-05-27");
}

#[tokio::test]
async fn a_withdrawn_consent_stops_the_bureau_request_until_given_again_with_an_application() {
    let app = TestApp::spawn().await;
    let (token, underwriter, _, _) = customer(&app).await;
    assert_eq!(
        requests(&app).await,
        (1, 0),
        "the first approval asked the bureau"
    );

    let withdrawn = app.post_as(&token, WITHDRAW, None).await;
    assert_eq!(withdrawn.status, StatusCode::OK, "{:#}", withdrawn.body);
    app.post_as(&token, WITHDRAW, None)
        .await
        .problem(StatusCode::CONFLICT);
    let mine = my_consents(&app, &token).await;
    assert_eq!(mine["credit_history_check"]["live"], false);
    assert!(mine["credit_history_check"]["withdrawn_at"].is_string());

    // Without a consent no bureau is asked: the approval is refused, the refusal recorded.
    let repeat = apply_again(&app, &token, None).await;
    let refused = decide(&app, &underwriter, &repeat, "approve").await;
    refused.problem(StatusCode::CONFLICT);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("withdrew"),
        "{:#}",
        refused.body
    );
    assert_eq!(requests(&app).await, (1, 1));
    assert_eq!(
        decide(&app, &underwriter, &repeat, "reject").await.status,
        StatusCode::OK
    );
    // The account hears of the decision from the onboarding process: then one may apply again.
    app.settle().await;

    // Given again with the next application: the bureau is asked.
    let version = consent_texts(&app).await[1]["version"].clone();
    let anew = json!({"credit_history_check": true, "version": version});
    let next = apply_again(&app, &token, Some(anew)).await;
    let approved = decide(&app, &underwriter, &next, "approve").await;
    assert_eq!(approved.status, StatusCode::OK, "{:#}", approved.body);
    assert_eq!(requests(&app).await, (2, 1));
    let mine = my_consents(&app, &token).await;
    assert_eq!(mine["credit_history_check"]["live"], true, "{mine:#}");
    assert_eq!(mine["consents"][0]["application_id"], next.as_str());
}

#[tokio::test]
async fn a_consent_older_than_six_months_asks_no_bureau() {
    let app = TestApp::spawn().await;
    let (_, _, _, password) = customer(&app).await;
    move_clock(&app, "2027-05-27T10:00:00+03:00").await;
    let token = crate::cabinet::login(&app, "ivan@example.ru", &password).await;
    let underwriter = crate::cabinet::login(&app, "olga@k911.ru", k911_tests::STAFF_PASSWORD).await;
    let repeat = apply_again(&app, &token, None).await;
    let refused = decide(&app, &underwriter, &repeat, "approve").await;
    refused.problem(StatusCode::CONFLICT);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("more than six months"),
        "{:#}",
        refused.body
    );
    assert_eq!(requests(&app).await, (1, 1));
    assert_eq!(
        my_consents(&app, &token).await["credit_history_check"]["live"],
        false
    );
}
