//! The ЮKassa payout adapter against a local stand-in of its API.

use k911_aggregates::loan_application::applicant::PayoutMethod;
use k911_aggregates::money::Kopecks;
use k911_commands::payout::{PayoutOrder, PayoutOutcome, PayoutProvider};
use k911_commands::yookassa::YooKassaPayouts;
use k911_tests::yookassa::{YooKassaStandIn, DECLINED_TOKEN, GATEWAY, INVALID_TOKEN, SECRET};
use k911_tests::TestApp;
use uuid::Uuid;

fn order(token: &str) -> PayoutOrder {
    PayoutOrder {
        payout_id: Uuid::now_v7(),
        loan_id: Uuid::now_v7(),
        purpose: k911_event_store::outbox::PayoutPurpose::Loan,
        amount: Kopecks::new(1_500_000).unwrap(),
        method: PayoutMethod::Card {
            card_token: token.into(),
            masked_pan: "220000******0004".into(),
        },
    }
}

#[tokio::test]
async fn payouts_go_to_yookassa_once_and_their_answers_are_read_back() {
    let app = TestApp::spawn().await;
    let yookassa = YooKassaStandIn::start().await;
    let provider =
        YooKassaPayouts::new(&yookassa.url, GATEWAY, SECRET, app.db.sqlx.clone()).unwrap();

    let paid = order("synonym-1");
    assert_eq!(
        provider.outcome(paid.payout_id).await.unwrap(),
        PayoutOutcome::Pending
    );
    provider.pay_out(&paid).await.unwrap();
    // Asked again (a retry): the same payout, not a second one.
    provider.pay_out(&paid).await.unwrap();
    let sent = yookassa.payouts();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["amount"]["value"], "15000.00");
    assert_eq!(sent[0]["payout_token"], "synonym-1");
    assert_eq!(
        provider.outcome(paid.payout_id).await.unwrap(),
        PayoutOutcome::Pending
    );
    assert_eq!(
        provider.outcome(paid.payout_id).await.unwrap(),
        PayoutOutcome::Paid
    );

    let declined = order(DECLINED_TOKEN);
    provider.pay_out(&declined).await.unwrap();
    provider.outcome(declined.payout_id).await.unwrap();
    assert_eq!(
        provider.outcome(declined.payout_id).await.unwrap(),
        PayoutOutcome::Failed("rejected_by_issuer".into())
    );

    // Refused outright: the answer is recorded, not retried.
    let invalid = order(INVALID_TOKEN);
    provider.pay_out(&invalid).await.unwrap();
    assert!(matches!(
        provider.outcome(invalid.payout_id).await.unwrap(),
        PayoutOutcome::Failed(_)
    ));

    // Wrong credentials or an unreachable API: an error, tried again later.
    let wrong = YooKassaPayouts::new(&yookassa.url, GATEWAY, "wrong", app.db.sqlx.clone()).unwrap();
    assert!(wrong.pay_out(&order("synonym-2")).await.is_err());
    let nowhere =
        YooKassaPayouts::new("http://127.0.0.1:9", GATEWAY, SECRET, app.db.sqlx.clone()).unwrap();
    assert!(nowhere.pay_out(&order("synonym-3")).await.is_err());

    // ЮMoney wallets are paid out; other wallets are refused at once.
    let mut wallet = order("");
    wallet.method = PayoutMethod::Ewallet {
        provider: "yoomoney".into(),
        wallet_id: "410011223344".into(),
    };
    provider.pay_out(&wallet).await.unwrap();
    assert!(yookassa
        .payouts()
        .iter()
        .any(|p| p["payout_destination_data"]["account_number"] == "410011223344"));
    let mut other = order("");
    other.method = PayoutMethod::Ewallet {
        provider: "qiwi".into(),
        wallet_id: "79160000000".into(),
    };
    provider.pay_out(&other).await.unwrap();
    assert!(matches!(
        provider.outcome(other.payout_id).await.unwrap(),
        PayoutOutcome::Failed(_)
    ));
}
