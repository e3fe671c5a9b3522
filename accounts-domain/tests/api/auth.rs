//! Optional bearer-JWT authentication on the accounts API.

use platform_infra::auth::AuthSettings;
use platform_testkit as kit;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::{TestApp, fresh_settings};

const SECRET: &str = "test-secret-for-hs256-only";

async fn post_with(app: &TestApp, token: Option<&str>, id: &str) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}/accounts/customer/create", app.base))
        .json(&kit::seed_customer(id));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("sent")
}

#[tokio::test]
async fn with_hs256_enabled_writes_need_a_valid_unexpired_token_and_reads_stay_open() {
    let mut settings = fresh_settings().await;
    settings.auth = AuthSettings {
        enabled: true,
        hs256_secret: Some(SecretString::from(SECRET)),
        issuer: Some(kit::jwt::ISSUER.into()),
        ..AuthSettings::default()
    };
    let app = TestApp::spawn_with(settings).await;

    let missing = post_with(&app, None, "auth-1").await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(
        missing.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let expired = kit::jwt::hs256(SECRET, -3600);
    assert_eq!(
        post_with(&app, Some(&expired), "auth-1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let forged = kit::jwt::hs256("another-secret", 600);
    assert_eq!(
        post_with(&app, Some(&forged), "auth-1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong_algorithm = kit::jwt::rs256(600);
    assert_eq!(
        post_with(&app, Some(&wrong_algorithm), "auth-1")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/accounts/customer/auth-1").await.status(),
        StatusCode::NOT_FOUND,
        "nothing stored"
    );

    let valid = kit::jwt::hs256(SECRET, 600);
    assert_eq!(
        post_with(&app, Some(&valid), "auth-1").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("/accounts/customer/auth-1").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/actuator/health/liveness").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn with_rs256_and_protected_reads_every_api_call_needs_a_token() {
    let mut settings = fresh_settings().await;
    settings.auth = AuthSettings {
        enabled: true,
        rs256_public_key_pem: Some(kit::jwt::RS256_PUBLIC_KEY_PEM.into()),
        protect_reads: true,
        ..AuthSettings::default()
    };
    let app = TestApp::spawn_with(settings).await;
    assert_eq!(
        app.get("/accounts/customers").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let token = kit::jwt::rs256(600);
    let read = app
        .client
        .get(format!("{}/accounts/customers", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(
        post_with(&app, Some(&token), "auth-2").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        app.get("/api-docs/openapi.json").await.status(),
        StatusCode::OK
    );
    app.stop().await;
}
