use k911_commands::clock::Clock;
use k911_commands::social::OidcProvider;
use k911_tests::browser::Browser;
use k911_tests::oidc::{TestIssuer, CLIENT_ID, CLIENT_SECRET};
use k911_tests::{Options, TestApp};

use crate::borrowers::approved_borrower;
use crate::staff::log_in;

/// A borrower links a social account in the settings, then logs in with its button: both
/// through the provider and back to the one callback page.
#[tokio::test]
async fn a_social_account_linked_in_settings_logs_the_borrower_in() {
    // The callback address is in the settings, so the app's address is taken first.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut options = Options::default();
    let clock = options.clock.clone();
    let issuer = TestIssuer::start(move || clock.now()).await;
    options.settings.oidc_providers = vec![OidcProvider {
        name: "vk".into(),
        issuer: issuer.url.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
    }];
    options.settings.oidc_redirect_url = format!("{base}/cabinet/social/callback");
    let app = TestApp::spawn_with(options).await;
    app.listen_on(listener);
    let (password, _) =
        approved_borrower(&app, "+79160000051", "vera@example.ru", "000051", None).await;
    issuer.sign_in("vk-user-7");

    let browser = Browser::start(base, 360).await;
    // Not linked yet: the provider's word alone logs nobody in.
    browser.open("/login").await;
    browser
        .submit("form[action='/login/social/vk'] button")
        .await;
    assert!(browser.text("#login-error").await.contains("не привязан"));

    log_in(&browser, "vera@example.ru", &password).await;
    browser.open("/cabinet/settings").await;
    browser
        .submit("form[action='/cabinet/settings/social/vk'] button")
        .await;
    assert_eq!(browser.text("#notice").await, "Аккаунт соцсети привязан.");
    app.settle().await;
    browser.open("/cabinet/settings").await;
    assert!(browser.text("main").await.contains("vk — с"));

    browser.submit("#logout").await;
    browser.open("/login").await;
    browser
        .submit("form[action='/login/social/vk'] button")
        .await;
    assert_eq!(browser.text("h1").await, "Мои займы");
    browser.close().await;
}
