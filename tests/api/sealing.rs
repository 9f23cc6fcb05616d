//! Personal data and secrets that could not be erased from the log: declared income, rejection
//! reasons, client addresses and password hashes are sealed or kept out of the events.

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::{TestApp, STAFF_PASSWORD};
use serde_json::json;

use crate::cabinet::{customer, login, put_as};
use crate::onboarding::{application, apply};

#[tokio::test]
async fn income_reasons_addresses_and_password_hashes_are_not_in_the_log_in_clear() {
    let app = TestApp::spawn().await;
    // Approved (its debt-to-income assessed), logged in, password changed.
    let (token, underwriter, _, password) = customer(&app).await;
    let change = json!({"current_password": password, "new_password": "a much better one"});
    let changed = put_as(&app, &token, "/api/v1/me/password", &change).await;
    assert_eq!(changed.status, StatusCode::OK, "{:#}", changed.body);
    // Another applicant, with a telling income, rejected with a telling reason.
    let mut body = application("+79160000002", None, "000002");
    body["applicant"]["monthly_income_kopecks"] = json!(8_765_432);
    let rejected = apply(&app, &body).await;
    let reject = app
        .post_as(
            &underwriter,
            &format!("/api/v1/staff/applications/{rejected}/reject"),
            Some(&json!({"reason": "Долговая нагрузка выше допустимой"})),
        )
        .await;
    assert_eq!(reject.status, StatusCode::OK, "{:#}", reject.body);
    app.settle().await;

    let events = app.dump("events", "global_position").await.join("\n");
    for clear in [
        "8765432",
        "8000000",
        "Долговая нагрузка",
        "$argon2",
        "password_hash",
        "monthly_income",
        "0.0.0.0",
        "127.0.0.1",
    ] {
        assert!(!events.contains(clear), "{clear} in the events");
    }
    // The address is recorded, sealed with the key of whoever acted or applied.
    let sealed_addresses: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE metadata ->> 'client_ip' LIKE '%ciphertext%'",
    )
    .fetch_one(&app.db.sqlx)
    .await
    .unwrap();
    assert!(sealed_addresses >= 4, "{sealed_addresses}");
    // The hashes are in the credentials table, one per password set (staff, issued, changed).
    let credentials = app.dump("credentials", "created_at").await;
    assert_eq!(credentials.len(), 3, "{credentials:#?}");
    assert!(credentials.iter().all(|c| c.contains("$argon2id$")));

    // The underwriters still read the reason, opened for them.
    let queue = app
        .get_as(&underwriter, "/api/v1/staff/applications?status=rejected")
        .await;
    assert_eq!(queue.status, StatusCode::OK);
    assert_eq!(
        queue.body[0]["rejection_reason"],
        "Долговая нагрузка выше допустимой"
    );
    // And the changed password is the one that works.
    login(&app, "ivan@example.ru", "a much better one").await;
}

/// Accounts written before 2.0 carried the hash in the event: `migrate` stores it as the
/// credential the upcaster names, so the password keeps working.
#[tokio::test]
async fn a_staff_account_of_the_first_release_logs_in_after_migration() {
    let app = TestApp::spawn().await;
    let account_id = uuid::Uuid::now_v7();
    let hash = k911_commands::auth::hash_password(STAFF_PASSWORD);
    let payload = json!({"StaffAccountCreated": {
        "login": "legacy@k911.ru", "role": "support", "password_hash": hash,
        "created_at": "2026-11-27T09:00:00Z"}});
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata)
         VALUES ('Account', $1, 1, 'StaffAccountCreated', '1.0', $2, '{}')",
    )
    .bind(account_id.to_string())
    .bind(&payload)
    .execute(&app.db.sqlx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO account_logins (login, account_id) VALUES ('legacy@k911.ru', $1)")
        .bind(account_id)
        .execute(&app.db.sqlx)
        .await
        .unwrap();
    let before = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "legacy@k911.ru", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(
        before.status,
        StatusCode::UNAUTHORIZED,
        "no credential stored yet"
    );

    app.db.migrate().await.unwrap();
    app.db.migrate().await.unwrap();
    let after = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "legacy@k911.ru", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(after.status, StatusCode::OK, "{:#}", after.body);
    assert_eq!(after.body["role"], Role::Support.as_str());
    assert_eq!(app.dump("credentials", "created_at").await.len(), 1);
    // Every start runs the adoption: it must read the legacy events' own index, not scan the
    // whole log (0.3 s at 1.5 M events before the index, on every command).
    let mut connection = app.db.sqlx.acquire().await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *connection)
        .await
        .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(&format!(
        "EXPLAIN {}",
        k911_event_store::credentials::ADOPT_LEGACY_HASHES
    ))
    .fetch_all(&mut *connection)
    .await
    .unwrap();
    assert!(
        plan.iter()
            .any(|line| line.contains("events_legacy_passwords")),
        "{plan:#?}"
    );
}
