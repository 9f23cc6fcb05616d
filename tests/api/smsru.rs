//! The SMS.ru adapter against a local stand-in of the gateway.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use k911_aggregates::values::{Phone, Role};
use k911_commands::notify::SmsSender;
use k911_commands::smsru::SmsRu;
use k911_tests::smsru::{Received, SmsRuStandIn};
use k911_tests::{Options, TestApp};
use serde_json::json;

use crate::onboarding::{application, apply};

#[tokio::test]
async fn the_adapter_speaks_the_gateways_api_and_reports_its_refusals() {
    let gateway = SmsRuStandIn::start("key-1").await;
    let sms = SmsRu::new(&gateway.url, "key-1", Some("k911".into())).unwrap();
    let phone = Phone::parse("+79161234567").unwrap();
    sms.send_sms(&phone, "k911: проверка").await.unwrap();
    assert_eq!(
        gateway.received(),
        [Received {
            to: "79161234567".into(),
            msg: "k911: проверка".into(),
            from: Some("k911".into()),
        }]
    );

    let wrong_key = SmsRu::new(&gateway.url, "key-2", None).unwrap();
    let error = wrong_key.send_sms(&phone, "x").await.unwrap_err();
    assert!(error.contains("200"), "{error}");

    let refused = Phone::parse("+79990000000").unwrap();
    let error = sms.send_sms(&refused, "x").await.unwrap_err();
    assert!(error.contains("207"), "{error}");
    assert!(
        !error.contains("79990000000"),
        "no number in errors: {error}"
    );

    let nowhere = SmsRu::new("http://127.0.0.1:9", "key-1", None).unwrap();
    assert!(nowhere.send_sms(&phone, "x").await.is_err());
    assert_eq!(gateway.received().len(), 1);
}

#[tokio::test]
async fn a_decision_reaches_the_gateway_through_the_outbox() {
    let gateway = SmsRuStandIn::start("key-1").await;
    let sms = SmsRu::new(&gateway.url, "key-1", None).unwrap();
    let app = TestApp::spawn_with(Options {
        sms: Some(Arc::new(sms)),
        ..Options::default()
    })
    .await;
    let id = apply(&app, &application("+79160000001", None, "000001")).await;
    let underwriter = app.staff("olga@k911.ru", Role::Underwriter).await;
    let path = format!("/api/v1/staff/applications/{id}/reject");
    let response = app
        .post_as(&underwriter, &path, Some(&json!({"reason": "ПДН"})))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    for _ in 0..100 {
        if !gateway.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = gateway.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].to, "79160000001");
    assert!(received[0].msg.contains("отрицательное решение"));
}
