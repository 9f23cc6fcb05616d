use axum::http::{Method, StatusCode};
use k911_aggregates::values::Role;
use k911_tests::{TestApp, STAFF_PASSWORD};
use serde_json::json;

#[tokio::test]
async fn staff_log_in_with_their_password_and_get_an_expiring_token() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", Role::Support).await;
    let response = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "Anna@K911.ru", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["role"], "support");
    assert_eq!(response.body["expires_at"], "2026-11-27T17:00:00Z");
    assert!(response.body["user_id"].is_string());
    let token = response.body["token"].as_str().unwrap();

    app.get_as(token, "/api/v1/staff/support/queue").await;
    app.clock
        .set("2026-11-27T17:00:01Z".parse().unwrap())
        .unwrap();
    app.get_as(token, "/api/v1/staff/support/queue")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_login_look_the_same() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", Role::Support).await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "anna@k911.ru", "password": "nope"}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            &json!({"login": "who@k911.ru", "password": "nope"}),
        )
        .await;
    wrong.problem(StatusCode::UNAUTHORIZED);
    unknown.problem(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn repeated_failures_lock_the_login_with_a_growing_back_off() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", Role::Support).await;
    let attempt = |password: &'static str| {
        let app = &app;
        async move {
            app.post(
                "/api/v1/auth/login",
                &json!({"login": "anna@k911.ru", "password": password}),
            )
            .await
        }
    };
    for _ in 0..5 {
        attempt("wrong").await.problem(StatusCode::UNAUTHORIZED);
    }
    // Locked now, even for the right password.
    let locked = attempt(STAFF_PASSWORD).await;
    locked.problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.headers["retry-after"], "30");
    app.clock
        .set("2026-11-27T09:00:31Z".parse().unwrap())
        .unwrap();
    attempt("wrong").await.problem(StatusCode::UNAUTHORIZED);
    let locked = attempt(STAFF_PASSWORD).await;
    locked.problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.headers["retry-after"], "60");
    app.clock
        .set("2026-11-27T09:01:32Z".parse().unwrap())
        .unwrap();
    assert_eq!(attempt(STAFF_PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_session() {
    let app = TestApp::spawn().await;
    let token = app.staff("anna@k911.ru", Role::Support).await;
    let out = app.post_as(&token, "/api/v1/auth/logout", None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    app.get_as(&token, "/api/v1/staff/support/queue")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_login_cannot_be_given_to_two_staff_members() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", Role::Support).await;
    let meta = k911_commands::CommandMeta::default();
    let again = app
        .app
        .access
        .create_staff(
            k911_aggregates::values::Email::parse("anna@k911.ru").unwrap(),
            Role::Admin,
            STAFF_PASSWORD,
            &meta,
        )
        .await;
    assert!(matches!(again, Err(k911_commands::Error::LoginTaken)));
}

#[tokio::test]
async fn support_routes_are_for_support_staff_only() {
    let app = TestApp::spawn().await;
    let routes = [
        (Method::GET, "/api/v1/staff/support/queue"),
        (Method::POST, "/api/v1/staff/support/queue/next"),
        (
            Method::GET,
            "/api/v1/staff/support/tickets/00000000-0000-0000-0000-000000000001",
        ),
        (
            Method::POST,
            "/api/v1/staff/support/tickets/00000000-0000-0000-0000-000000000001/reply",
        ),
        (
            Method::POST,
            "/api/v1/staff/support/tickets/00000000-0000-0000-0000-000000000001/close",
        ),
    ];
    for (method, path) in &routes {
        app.request(method.clone(), path, None, &[])
            .await
            .problem(StatusCode::UNAUTHORIZED);
        app.request(
            method.clone(),
            path,
            None,
            &[("authorization", "Bearer forged")],
        )
        .await
        .problem(StatusCode::UNAUTHORIZED);
    }
    for (n, role) in [
        Role::Underwriter,
        Role::Compliance,
        Role::Analyst,
        Role::Admin,
    ]
    .into_iter()
    .enumerate()
    {
        let token = app.staff(&format!("staff{n}@k911.ru"), role).await;
        let auth = format!("Bearer {token}");
        for (method, path) in &routes {
            let body = json!({"text": "x"});
            let body = (method == Method::POST).then_some(&body);
            app.request(method.clone(), path, body, &[("authorization", &auth)])
                .await
                .problem(StatusCode::FORBIDDEN);
        }
    }
}

/// A hundred wrong passwords at once: only the free attempts are checked at all; every other one
/// is refused at once, and the lock is the rule's (30 s), not a hundred failures' worth.
#[tokio::test]
async fn a_hundred_parallel_wrong_logins_lock_only_as_the_rule_says() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", Role::Support).await;
    let wrong = json!({"login": "anna@k911.ru", "password": "wrong password"});
    let answers =
        futures::future::join_all((0..100).map(|_| app.post("/api/v1/auth/login", &wrong))).await;
    let checked = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 95));
    let right = json!({"login": "anna@k911.ru", "password": STAFF_PASSWORD});
    let locked = app.post("/api/v1/auth/login", &right).await;
    locked.problem(StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.headers["retry-after"], "30");
    // When the lock ends, one more attempt is checked, and the next lock is taken with it: ten at
    // once get one check between them.
    app.clock
        .set("2026-11-27T09:00:31Z".parse().unwrap())
        .unwrap();
    let answers =
        futures::future::join_all((0..10).map(|_| app.post("/api/v1/auth/login", &wrong))).await;
    let checked = answers
        .iter()
        .filter(|a| a.status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(checked, 1);
    app.clock
        .set("2026-11-27T09:01:32Z".parse().unwrap())
        .unwrap();
    assert_eq!(
        app.post("/api/v1/auth/login", &right).await.status,
        StatusCode::OK
    );
}

/// Failures are forgotten after an hour (longer than the longest lock): a login is not held
/// against its owner's typos of earlier, and nobody keeps it locked without trying again and
/// again.
#[tokio::test]
async fn failed_logins_are_forgotten_after_an_hour() {
    let app = TestApp::spawn().await;
    app.staff("anna@k911.ru", Role::Support).await;
    let wrong = json!({"login": "anna@k911.ru", "password": "wrong password"});
    for _ in 0..4 {
        app.post("/api/v1/auth/login", &wrong)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    app.clock
        .set("2026-11-27T10:01:00Z".parse().unwrap())
        .unwrap();
    // Four more may be tried before the fifth locks: the first four are forgotten.
    for _ in 0..4 {
        app.post("/api/v1/auth/login", &wrong)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    let right = json!({"login": "anna@k911.ru", "password": STAFF_PASSWORD});
    assert_eq!(
        app.post("/api/v1/auth/login", &right).await.status,
        StatusCode::OK
    );
}

/// With the limits on, one address is held to its share of logins and applications (429 with
/// Retry-After), whatever logins it tries.
#[tokio::test]
async fn one_address_is_held_to_its_limit_of_login_attempts() {
    let app = TestApp::spawn_with(k911_tests::Options {
        rate_limits: k911_http::RateLimitConfig::default(),
        ..k911_tests::Options::default()
    })
    .await;
    for n in 0..10 {
        let someone = json!({"login": format!("nobody{n}@k911.ru"), "password": "wrong password"});
        app.post("/api/v1/auth/login", &someone)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    let eleventh = json!({"login": "nobody10@k911.ru", "password": "wrong password"});
    let limited = app.post("/api/v1/auth/login", &eleventh).await;
    limited.problem(StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
}

/// Each instance keeps the sessions it has checked (`commands/src/sessions.rs`); a logout through
/// one instance is refused by the other as soon as its end is announced (NOTIFY at the logout's
/// commit), not when the kept entry would be asked again a minute later.
#[tokio::test]
async fn a_session_ended_through_one_instance_is_refused_by_the_other_at_once() {
    let one = TestApp::spawn().await;
    let two = one.another_instance().await;
    let token = one.staff("anna@k911.ru", Role::Support).await;
    const QUEUE: &str = "/api/v1/staff/support/queue";
    // Checked, and kept, by both instances.
    for app in [&one, &two, &one, &two] {
        assert_eq!(app.get_as(&token, QUEUE).await.status, StatusCode::OK);
    }
    let hash = k911_commands::sessions::token_hash(&token);
    let kept = |app: &TestApp| {
        use k911_commands::clock::Clock;
        app.app.core.sessions.get(&hash, app.clock.now()).is_some()
    };
    assert!(kept(&one) && kept(&two));
    let out = one.post_as(&token, "/api/v1/auth/logout", None).await;
    assert!(out.status.is_success(), "{:#}", out.body);
    assert_eq!(
        one.get_as(&token, QUEUE).await.status,
        StatusCode::UNAUTHORIZED
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while two.get_as(&token, QUEUE).await.status != StatusCode::UNAUTHORIZED {
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance still takes the ended session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
