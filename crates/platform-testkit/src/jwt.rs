//! Signing test tokens. The RS256 key pair under `fixtures/` exists only for
//! tests; never configure it anywhere else.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// Public half of the test RS256 key pair.
pub const RS256_PUBLIC_KEY_PEM: &str = include_str!("../fixtures/jwt-test-rs256.pub.pem");
const RS256_PRIVATE_KEY_PEM: &str = include_str!("../fixtures/jwt-test-rs256.key.pem");

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iss: &'a str,
    exp: i64,
}

/// The issuer the tokens name.
pub const ISSUER: &str = "https://issuer.test";

fn expiry(valid_for_secs: i64) -> i64 {
    chrono::Utc::now().timestamp() + valid_for_secs
}

/// An HS256 token; a negative `valid_for_secs` gives an expired one.
pub fn hs256(secret: &str, valid_for_secs: i64) -> String {
    let claims = Claims {
        sub: "tester",
        iss: ISSUER,
        exp: expiry(valid_for_secs),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 token")
}

/// An RS256 token signed with the test key pair.
pub fn rs256(valid_for_secs: i64) -> String {
    let claims = Claims {
        sub: "tester",
        iss: ISSUER,
        exp: expiry(valid_for_secs),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(RS256_PRIVATE_KEY_PEM.as_bytes()).expect("test key"),
    )
    .expect("RS256 token")
}
