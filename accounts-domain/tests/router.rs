//! The accounts HTTP application driven in-process through its `Router`:
//! every status and problem+json shape of the API that does not depend on
//! stored data, with no servers running. The database handle points at a
//! closed port; none of these requests reaches it.

use std::sync::Arc;

use accounts_domain::Settings;
use accounts_domain::http::{ApiDoc, AppState, router};
use accounts_domain::store::CustomerStore;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use platform_infra::auth::AuthSettings;
use platform_infra::idempotency::IdempotencyKeys;
use platform_testkit as kit;
use platform_testkit::router::{call, get, post_json, send, unreachable_database};
use secrecy::SecretString;
use serde_json::Value;
use shared_events::crypto::KeyEncryptionKey;
use utoipa::OpenApi;

const CREATE: &str = "/accounts/customer/create";

fn settings() -> Settings {
    platform_infra::config::load_layers(accounts_domain::settings::DEFAULTS, None)
        .expect("defaults load")
}

/// A key-encryption key: these tests never reach a database, so never use it.
fn kek() -> KeyEncryptionKey {
    let key = KeyEncryptionKey::generate_base64().expect("random");
    KeyEncryptionKey::from_base64("router-test", &key).expect("a valid key")
}

fn app_with(settings: &Settings) -> Router {
    let database = unreachable_database();
    let state = AppState {
        store: CustomerStore::new(&database, "customers", Arc::new(kek())),
        relay_wake: Arc::default(),
        idempotency: IdempotencyKeys::new(
            &database,
            settings.http.body_limit_bytes,
            settings.idempotency,
        ),
    };
    platform_infra::service::app(router(state), ApiDoc::openapi(), settings).expect("app")
}

fn app() -> Router {
    app_with(&settings())
}

#[tokio::test]
async fn malformed_json_is_400_and_other_media_types_415() {
    let app = app();
    let reply = send(&app, "POST", CREATE, "application/json", "{\"id\": 1,").await;
    assert_eq!(
        reply.problem(StatusCode::BAD_REQUEST)["type"],
        "/problems/malformed-json"
    );
    let reply = send(&app, "POST", CREATE, "text/plain", kit::SEED_CUSTOMER_JSON).await;
    reply.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_missing_field_is_422_named_by_its_path() {
    let mut body = kit::seed_customer("c-1");
    body["name"]
        .as_object_mut()
        .expect("object")
        .remove("firstName");
    let reply = post_json(&app(), CREATE, &body).await;
    assert_eq!(
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY)["type"],
        "/problems/validation-error"
    );
    assert_eq!(reply.error_fields(), ["name.firstName"]);
    assert_eq!(reply.body["errors"][0]["message"], "is required");
}

#[tokio::test]
async fn every_invalid_field_is_422_named_at_once_without_echoing_card_numbers() {
    let app = app();
    let mut body = kit::seed_customer("c-1");
    body["contact"]["email"] = "not-an-address".into();
    body["contact"]["primaryPhone"] = "call me".into();
    body["addresses"][1]["postalCode"] = "12$45".into();
    body["creditCards"][0]["number"] = "1234".into();
    body["creditCards"][1]["expiration"] = "13/2029".into();
    body["name"]["lastName"] = " ".into();
    let reply = post_json(&app, CREATE, &body).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        [
            "name.lastName",
            "contact.primaryPhone",
            "contact.email",
            "addresses[1].postalCode",
            "creditCards[0].number",
            "creditCards[1].expiration"
        ]
    );
    assert!(!reply.body.to_string().contains("1234"), "{}", reply.body);

    // An address type outside the known ones is refused by name (the shared
    // type keeps it for readers of newer events; a producer must not write it).
    let mut body = kit::seed_customer("c-1");
    body["addresses"][0]["type"] = "HOME".into();
    let reply = post_json(&app, CREATE, &body).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["addresses[0].type"]);

    let mut body = kit::seed_customer("c-1");
    body["creditCards"][0]["number"] = 4_111_111_111_111_111_u64.into();
    let reply = post_json(&app, CREATE, &body).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["creditCards[0].number"]);
    assert!(
        !reply.body.to_string().contains("4111111111111111"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn ids_that_no_customer_can_have_are_404_problems() {
    let app = app();
    let long = "x".repeat(65);
    for id in ["a%20b", "a:b%2Fc", long.as_str()] {
        for path in [
            format!("/accounts/customer/{id}"),
            format!("/accounts/customer/{id}/history"),
        ] {
            get(&app, &path).await.problem(StatusCode::NOT_FOUND);
        }
        let delete = Request::delete(format!("/accounts/customer/{id}"))
            .body(Body::empty())
            .expect("request");
        call(&app, delete).await.problem(StatusCode::NOT_FOUND);
    }
    let mut body = kit::seed_customer("a b");
    body["id"] = "a b".into();
    let reply = post_json(&app, CREATE, &body).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["id"]);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    kit::router::assert_unknown_route_and_method_are_problems(&app(), "/accounts/customers").await;
}

#[tokio::test]
async fn paging_parameters_out_of_range_or_malformed_are_400_naming_the_parameter() {
    let app = app();
    for (query, parameter) in [
        ("limit=0", Some("limit")),
        ("limit=1001", Some("limit")),
        ("offset=9223372036854775808", None),
        ("limit=ten", None),
    ] {
        let reply = get(&app, &format!("/accounts/customers?{query}")).await;
        assert_eq!(
            reply.problem(StatusCode::BAD_REQUEST)["type"],
            "/problems/invalid-query",
            "{query}"
        );
        if let Some(parameter) = parameter {
            assert_eq!(reply.error_fields(), [parameter], "{query}");
        }
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let mut body = kit::seed_customer("big-1");
    body["name"]["title"] = "x".repeat(70 * 1024).into();
    post_json(&app(), CREATE, &body)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_400() {
    let request = Request::post(CREATE)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "has spaces")
        .body(Body::from(kit::SEED_CUSTOMER_JSON))
        .expect("request");
    call(&app(), request).await.problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn with_auth_enabled_a_write_without_a_valid_bearer_token_is_401() {
    const SECRET: &str = "router-test-secret";
    let mut settings = settings();
    settings.auth = AuthSettings {
        enabled: true,
        hs256_secret: Some(SecretString::from(SECRET)),
        issuer: Some(kit::jwt::ISSUER.into()),
        ..AuthSettings::default()
    };
    let app = app_with(&settings);
    let with_token = |token: Option<String>| {
        let mut request = Request::post(CREATE).header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request
            .body(Body::from(kit::SEED_CUSTOMER_JSON))
            .expect("request")
    };
    let missing = call(&app, with_token(None)).await;
    missing.problem(StatusCode::UNAUTHORIZED);
    assert!(
        missing.headers[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    for token in [
        kit::jwt::hs256(SECRET, -3600),
        kit::jwt::hs256("another-secret", 600),
        kit::jwt::rs256(600),
    ] {
        call(&app, with_token(Some(token)))
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn openapi_documents_every_route_and_swagger_ui_is_served_offline() {
    let app = app();
    let doc = get(&app, "/api-docs/openapi.json").await.body;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{doc}"
    );
    for path in [
        "/accounts/customer/create",
        "/accounts/customer/{id}",
        "/accounts/customer/{id}/history",
        "/accounts/customers",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let create = &doc["paths"]["/accounts/customer/create"]["post"]["responses"];
    for status in ["200", "201", "400", "415", "422", "503"] {
        assert!(create[status].is_object(), "create lacks {status}");
    }
    kit::assert_refs_resolve(&doc);
    // Checked in for people and tools that read the API without running it.
    kit::assert_file_in_sync("openapi.json", &doc);
    // Examples come from the seed's sample body and what the service makes of it.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["CustomerRequest"]["example"],
        kit::seed_customer_numeric_id(123456)
    );
    let response = &schemas["Customer"]["example"];
    assert_eq!(response["id"], "123456");
    assert_eq!(response["creditCards"][0]["last4"], "0000");
    for number in kit::SEED_CARD_NUMBERS {
        assert!(!response.to_string().contains(number), "{response}");
    }
    let ui = call(
        &app,
        Request::get("/swagger-ui/")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(ui.status, StatusCode::OK);
    assert_eq!(ui.body, Value::Null, "HTML, not JSON");
}
