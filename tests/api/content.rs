use axum::http::{Method, StatusCode};
use base64::Engine;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::json;

async fn get_after(
    app: &TestApp,
    path: &str,
    position: &serde_json::Value,
) -> k911_tests::TestResponse {
    let position = position.as_i64().unwrap().to_string();
    app.request(Method::GET, path, None, &[("x-min-position", &position)])
        .await
}

#[tokio::test]
async fn support_staff_publish_edit_and_withdraw_faq_entries() {
    let app = TestApp::spawn().await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let created = app
        .post_as(
            &support,
            "/api/v1/staff/faq",
            Some(&json!({"question": "Как погасить заём?", "answer": "В Сбербанк Онлайн."})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let faq = get_after(&app, "/api/v1/faq", &created.body["position"]).await;
    assert_eq!(
        faq.body,
        json!([{"id": id, "question": "Как погасить заём?", "answer": "В Сбербанк Онлайн."}])
    );

    let auth = format!("Bearer {support}");
    let edited = app
        .request(
            Method::PUT,
            &format!("/api/v1/staff/faq/{id}"),
            Some(&json!({"question": "Как погасить заём?", "answer": "Через терминал."})),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK);
    let faq = get_after(&app, "/api/v1/faq", &edited.body["position"]).await;
    assert_eq!(faq.body[0]["answer"], "Через терминал.");

    let withdrawn = app
        .request(
            Method::DELETE,
            &format!("/api/v1/staff/faq/{id}"),
            None,
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK);
    let faq = get_after(&app, "/api/v1/faq", &withdrawn.body["position"]).await;
    assert_eq!(faq.body, json!([]));
    app.request(
        Method::DELETE,
        &format!("/api/v1/staff/faq/{id}"),
        None,
        &[("authorization", &auth)],
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn faq_management_checks_role_and_fields() {
    let app = TestApp::spawn().await;
    let analyst = app.staff("olga@k911.ru", Role::Analyst).await;
    app.post_as(
        &analyst,
        "/api/v1/staff/faq",
        Some(&json!({"question": "?", "answer": "!"})),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    app.post(
        "/api/v1/staff/faq",
        &json!({"question": "?", "answer": "!"}),
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let fields = app
        .post_as(
            &admin,
            "/api/v1/staff/faq",
            Some(&json!({"question": " ", "answer": ""})),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["question", "answer"]);
    let auth = format!("Bearer {admin}");
    app.request(
        Method::PUT,
        "/api/v1/staff/faq/00000000-0000-0000-0000-000000000009",
        Some(&json!({"question": "?", "answer": "!"})),
        &[("authorization", &auth)],
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(app.event_count().await, 2, "only the two staff accounts");
}

#[tokio::test]
async fn the_seed_documents_are_published_once_and_served_as_pdf() {
    let app = TestApp::spawn().await;
    app.app.content.seed_documents().await.unwrap();
    app.app.content.seed_documents().await.unwrap();
    app.settle().await;
    let list = app
        .request(Method::GET, "/api/v1/documents", None, &[])
        .await;
    let documents = list.body.as_array().unwrap();
    assert_eq!(documents.len(), 5);
    assert_eq!(
        documents[0]["title"],
        "Общие условия договора потребительского займа"
    );
    assert_eq!(documents[0]["content_type"], "application/pdf");
    assert_eq!(documents[0]["published_on"], "2026-11-27");
    let url = documents[1]["url"].as_str().unwrap();
    let response = app
        .send(
            axum::http::Request::get(url)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.content_type(), "application/pdf");
    assert!(response.bytes.starts_with(b"%PDF-"));
}

#[tokio::test]
async fn an_administrator_uploads_and_withdraws_a_document() {
    let app = TestApp::spawn().await;
    let admin = app.staff("root@k911.ru", Role::Admin).await;
    let pdf =
        base64::engine::general_purpose::STANDARD.encode(b"%PDF-1.4\n% test document\n%%EOF\n");
    let created = app
        .post_as(
            &admin,
            "/api/v1/staff/documents",
            Some(&json!({"title": "Тарифы", "published_on": "2026-12-01", "content_base64": pdf})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:#}", created.body);
    let list = get_after(&app, "/api/v1/documents", &created.body["position"]).await;
    // Beside the seed documents every installation starts with.
    let uploaded = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["title"] == "Тарифы")
        .expect("the uploaded document is listed");
    assert_eq!(uploaded["published_on"], "2026-12-01");

    let not_pdf = base64::engine::general_purpose::STANDARD.encode(b"hello");
    let fields = app
        .post_as(
            &admin,
            "/api/v1/staff/documents",
            Some(&json!({"title": "", "content_base64": not_pdf})),
        )
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields, ["title", "content_base64"]);
    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.post_as(
        &support,
        "/api/v1/staff/documents",
        Some(&json!({"title": "X", "content_base64": pdf})),
    )
    .await
    .problem(StatusCode::FORBIDDEN);

    let id = created.body["id"].as_str().unwrap();
    let auth = format!("Bearer {admin}");
    let withdrawn = app
        .request(
            Method::DELETE,
            &format!("/api/v1/staff/documents/{id}"),
            None,
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::OK);
    let list = get_after(&app, "/api/v1/documents", &withdrawn.body["position"]).await;
    assert!(list
        .body
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["title"] != "Тарифы"));
    app.request(
        Method::GET,
        &format!("/api/v1/documents/{id}/file"),
        None,
        &[],
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn contacts_come_from_configuration() {
    let app = TestApp::spawn().await;
    let contacts = app
        .request(Method::GET, "/api/v1/contacts", None, &[])
        .await;
    assert_eq!(contacts.body["hotline"], "8 800 100-57-57");
    assert_eq!(contacts.body["whatsapp"], "+7 993 100-57-57");
    assert!(contacts.body["support_hours"].is_string());
}
