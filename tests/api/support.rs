use std::collections::HashSet;

use axum::http::StatusCode;
use k911_aggregates::values::Role;
use k911_tests::TestApp;
use serde_json::{json, Value};

fn form(n: usize) -> Value {
    json!({
        "name": "Иван Петров",
        "phone": "8 916 123-45-67",
        "email": "ivan@example.ru",
        "question": format!("Вопрос номер {n}: когда придут деньги?"),
    })
}

async fn submit(app: &TestApp, n: usize) -> Value {
    let response = app.post("/api/v1/support/tickets", &form(n)).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:#}", response.body);
    response.body
}

/// The staff queue as `token` reads it once the read models reached `position`.
async fn queue_after(app: &TestApp, token: &str, position: &str) -> k911_tests::TestResponse {
    app.request(
        axum::http::Method::GET,
        "/api/v1/staff/support/queue",
        None,
        &[
            ("authorization", &format!("Bearer {token}")),
            ("x-min-position", position),
        ],
    )
    .await
}

#[tokio::test]
async fn an_anonymous_question_joins_the_end_of_the_queue() {
    let app = TestApp::spawn().await;
    for n in 1..=3 {
        let receipt = submit(&app, n).await;
        assert_eq!(receipt["queue_position"], n);
        assert!(receipt["position"].as_i64().unwrap() > 0);
        assert!(receipt["ticket_id"].as_str().unwrap().len() == 36);
    }
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let queue = app.get_as(&support, "/api/v1/staff/support/queue").await;
    assert_eq!(queue.status, StatusCode::OK);
    let positions: Vec<i64> = queue
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["queue_position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, vec![1, 2, 3]);
    // The queue shows no personal data.
    assert!(!queue.body.to_string().contains("Иван"));
}

#[tokio::test]
async fn an_agent_takes_the_oldest_ticket_answers_and_closes_it() {
    let app = TestApp::spawn().await;
    let first = submit(&app, 1).await;
    let second = submit(&app, 2).await;
    let support = app.staff("anna@k911.ru", Role::Support).await;

    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{:#}", taken.body);
    assert_eq!(taken.body["ticket_id"], first["ticket_id"]);
    assert_eq!(taken.body["name"], "Иван Петров");
    assert_eq!(taken.body["phone"], "+79161234567");
    assert_eq!(
        taken.body["question"],
        "Вопрос номер 1: когда придут деньги?"
    );

    // The second ticket moves to the head of the queue.
    let position = taken.body["position"].as_i64().unwrap().to_string();
    let queue = queue_after(&app, &support, &position).await;
    assert_eq!(queue.body[0]["ticket_id"], second["ticket_id"]);
    assert_eq!(queue.body[0]["queue_position"], 1);

    let id = first["ticket_id"].as_str().unwrap();
    let replied = app
        .post_as(
            &support,
            &format!("/api/v1/staff/support/tickets/{id}/reply"),
            Some(&json!({"text": "Деньги придут сегодня."})),
        )
        .await;
    assert_eq!(replied.status, StatusCode::OK, "{:#}", replied.body);
    assert_eq!(replied.body["status"], "answered");
    let closed = app
        .post_as(
            &support,
            &format!("/api/v1/staff/support/tickets/{id}/close"),
            None,
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{:#}", closed.body);
    assert_eq!(closed.body["status"], "closed");
    let again = app
        .post_as(
            &support,
            &format!("/api/v1/staff/support/tickets/{id}/reply"),
            Some(&json!({"text": "Ещё"})),
        )
        .await;
    again.problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_agent_can_neither_read_nor_answer_a_ticket_they_do_not_hold() {
    let app = TestApp::spawn().await;
    let ticket = submit(&app, 1).await;
    let anna = app.staff("anna@k911.ru", Role::Support).await;
    let boris = app.staff("boris@k911.ru", Role::Support).await;
    app.post_as(&anna, "/api/v1/staff/support/queue/next", None)
        .await;
    let id = ticket["ticket_id"].as_str().unwrap();
    app.get_as(&boris, &format!("/api/v1/staff/support/tickets/{id}"))
        .await
        .problem(StatusCode::NOT_FOUND);
    let reply = app
        .post_as(
            &boris,
            &format!("/api/v1/staff/support/tickets/{id}/reply"),
            Some(&json!({"text": "Ответ"})),
        )
        .await;
    reply.problem(StatusCode::CONFLICT);
    let own = app
        .get_as(&anna, &format!("/api/v1/staff/support/tickets/{id}"))
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["email"], "ivan@example.ru");
}

#[tokio::test]
async fn an_empty_queue_hands_out_nothing() {
    let app = TestApp::spawn().await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    app.post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn fifty_concurrent_next_calls_hand_out_each_of_twenty_tickets_once_oldest_first() {
    let app = TestApp::spawn().await;
    let mut submitted = vec![];
    for n in 1..=20 {
        submitted.push(
            submit(&app, n).await["ticket_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut agents = vec![];
    for n in 0..5 {
        agents.push(app.staff(&format!("agent{n}@k911.ru"), Role::Support).await);
    }
    let calls = (0..50).map(|i| {
        let token = agents[i % agents.len()].clone();
        let app = &app;
        async move {
            app.post_as(&token, "/api/v1/staff/support/queue/next", None)
                .await
        }
    });
    let answers = futures::future::join_all(calls).await;
    assert_eq!(handed_out(answers), submitted);
}

/// The tickets take-next `answers` handed out, each once (an empty queue's 404 hands out
/// nothing), in the order the assignments were recorded.
fn handed_out(answers: Vec<k911_tests::TestResponse>) -> Vec<String> {
    let mut handed: Vec<(i64, String)> = vec![];
    for answer in answers {
        match answer.status {
            StatusCode::OK => handed.push((
                answer.body["position"].as_i64().unwrap(),
                answer.body["ticket_id"].as_str().unwrap().to_string(),
            )),
            StatusCode::NOT_FOUND => {}
            other => panic!("unexpected {other}: {:#}", answer.body),
        }
    }
    let unique: HashSet<&String> = handed.iter().map(|(_, id)| id).collect();
    assert_eq!(unique.len(), handed.len(), "no ticket handed out twice");
    handed.sort();
    handed.into_iter().map(|(_, id)| id).collect()
}

/// Two instances of the service on one database, as two processes behind a balancer: tickets
/// submitted through either join one queue; 24 take-next calls split between them hand out each
/// ticket once, oldest first; what one instance wrote the other reads at once with
/// `X-Min-Position`.
#[tokio::test]
async fn two_instances_hand_out_each_ticket_once_and_read_each_others_writes() {
    let one = TestApp::spawn().await;
    let two = one.another_instance().await;
    let mut submitted = vec![];
    for n in 1..=20 {
        let via = if n % 2 == 0 { &one } else { &two };
        submitted.push(
            submit(via, n).await["ticket_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // Read your writes across instances: written through one, read through the other.
    let receipt = submit(&one, 21).await;
    let position = receipt["position"].as_i64().unwrap().to_string();
    let anna = one.staff("anna@k911.ru", Role::Support).await;
    let queue = queue_after(&two, &anna, &position).await;
    assert_eq!(queue.status, StatusCode::OK, "{:#}", queue.body);
    let waiting = queue.body.as_array().unwrap();
    assert_eq!(waiting.len(), 21, "{:#}", queue.body);
    assert_eq!(waiting[20]["ticket_id"], receipt["ticket_id"]);
    submitted.push(receipt["ticket_id"].as_str().unwrap().to_string());

    let mut staff = vec![anna];
    for n in 1..4 {
        staff.push(one.staff(&format!("s{n}@k911.ru"), Role::Support).await);
    }
    let calls = (0..24).map(|i| {
        let token = staff[i % staff.len()].clone();
        let via = if i % 2 == 0 { &one } else { &two };
        async move {
            via.post_as(&token, "/api/v1/staff/support/queue/next", None)
                .await
        }
    });
    // Every ticket handed out once, in the order they were submitted.
    let answers = futures::future::join_all(calls).await;
    assert_eq!(handed_out(answers), submitted);
    drop(two);
}

#[tokio::test]
async fn the_events_table_holds_no_plaintext_personal_data() {
    let app = TestApp::spawn().await;
    submit(&app, 1).await;
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    let id = taken.body["ticket_id"].as_str().unwrap();
    app.post_as(
        &support,
        &format!("/api/v1/staff/support/tickets/{id}/reply"),
        Some(&json!({"text": "Секретный ответ"})),
    )
    .await;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT payload::text || metadata::text FROM events")
            .fetch_all(&app.db.sqlx)
            .await
            .unwrap();
    let all = stored.join("\n");
    for secret in [
        "Иван",
        "Петров",
        "9161234567",
        "ivan@example.ru",
        "когда придут",
        "Секретный",
    ] {
        assert!(!all.contains(secret), "{secret} found in the events table");
    }
    // ...and reading it was recorded for compliance.
    let reads: i64 = sqlx::query_scalar("SELECT count(*) FROM personal_data_reads")
        .fetch_one(&app.db.sqlx)
        .await
        .unwrap();
    assert_eq!(reads, 1);
}

#[tokio::test]
async fn tickets_submitted_together_learn_their_places_behind_those_already_waiting() {
    let app = TestApp::spawn().await;
    for n in 1..=3 {
        submit(&app, n).await;
    }
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    assert_eq!(taken.status, StatusCode::OK);
    // Two wait; ten arrive at once, written by the read model in as few batches as it can.
    let receipts = futures::future::join_all((4..=13).map(|n| submit(&app, n))).await;
    let mut places: Vec<i64> = receipts
        .iter()
        .map(|r| r["queue_position"].as_i64().unwrap())
        .collect();
    places.sort();
    assert_eq!(places, (3..=12).collect::<Vec<i64>>());
    // Each answer is the place the queue shows, and the place the table itself computes.
    let queue = app
        .get_as(&support, "/api/v1/staff/support/queue?limit=50")
        .await;
    let client = app.db.pg.get().await.unwrap();
    for receipt in &receipts {
        let id = receipt["ticket_id"].as_str().unwrap();
        let listed = queue
            .body
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["ticket_id"] == id)
            .expect("listed");
        assert_eq!(listed["queue_position"], receipt["queue_position"]);
        let computed = k911_projections::support::queue_position(&client, id.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(computed, receipt["queue_position"].as_i64());
    }
}

/// A queue that keeps listing tickets that are not waiting (taken meanwhile, or shown waiting by
/// a queue that set their assignment aside) never traps an agent asking for the next one.
#[tokio::test]
async fn take_next_ends_when_the_queue_lists_only_tickets_already_taken() {
    struct Stale(Vec<uuid::Uuid>);
    #[async_trait::async_trait]
    impl k911_commands::support::WaitingTickets for Stale {
        async fn oldest(&self, _: i64) -> Result<Vec<uuid::Uuid>, k911_commands::Error> {
            Ok(self.0.clone())
        }
    }
    let app = TestApp::spawn().await;
    let ticket: uuid::Uuid = submit(&app, 1).await["ticket_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let support = app.staff("anna@k911.ru", Role::Support).await;
    let taken = app
        .post_as(&support, "/api/v1/staff/support/queue/next", None)
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{:#}", taken.body);

    let meta = k911_commands::CommandMeta::system("test");
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        app.app
            .support
            .take_next_ticket(uuid::Uuid::now_v7(), &Stale(vec![ticket]), &meta),
    )
    .await
    .expect("take_next_ticket returns");
    assert!(next.unwrap().is_none());
}
