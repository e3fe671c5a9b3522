//! Optional bearer-JWT authentication.
//!
//! Off by default. When on, every write (any method but GET, HEAD and OPTIONS)
//! needs `Authorization: Bearer <JWT>` signed with the configured HS256 secret
//! or RS256 key, unexpired, and with the configured issuer and audience if
//! set; reads need it too with `protect_reads`. Probes, metrics and the API
//! documentation are always open. Failures are 401 problem+json with a
//! `WWW-Authenticate: Bearer` challenge.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::problem::Problem;

/// The `[auth]` settings.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthSettings {
    /// Require tokens at all.
    #[serde(default)]
    pub enabled: bool,
    /// Shared secret for HS256 tokens.
    #[serde(default)]
    pub hs256_secret: Option<SecretString>,
    /// PEM public key (SPKI) for RS256 tokens.
    #[serde(default)]
    pub rs256_public_key_pem: Option<String>,
    /// Also require tokens on reads.
    #[serde(default)]
    pub protect_reads: bool,
    /// Required `iss`, if set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud`, if set.
    #[serde(default)]
    pub audience: Option<String>,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("auth.enabled needs exactly one of auth.hs256_secret and auth.rs256_public_key_pem")]
    NoKey,
    #[error("auth.rs256_public_key_pem is not a PEM RSA public key")]
    BadKey(#[source] jsonwebtoken::errors::Error),
}

/// Checks tokens; `None` inside means authentication is off.
#[derive(Clone)]
pub struct Authenticator(Option<Arc<Verifier>>);

struct Verifier {
    key: DecodingKey,
    validation: Validation,
    protect_reads: bool,
}

impl Authenticator {
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, AuthConfigError> {
        if !settings.enabled {
            return Ok(Authenticator(None));
        }
        let (key, algorithm) = match (&settings.hs256_secret, &settings.rs256_public_key_pem) {
            (Some(secret), None) if !secret.expose_secret().is_empty() => (
                DecodingKey::from_secret(secret.expose_secret().as_bytes()),
                Algorithm::HS256,
            ),
            (None, Some(pem)) => (
                DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(AuthConfigError::BadKey)?,
                Algorithm::RS256,
            ),
            _ => return Err(AuthConfigError::NoKey),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 30;
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Ok(Authenticator(Some(Arc::new(Verifier {
            key,
            validation,
            protect_reads: settings.protect_reads,
        }))))
    }

    /// Whether tokens are required at all.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }
}

/// Claims are not used beyond validation; any extra ones are accepted.
#[derive(Debug, Deserialize)]
struct Claims {}

fn is_open_path(path: &str) -> bool {
    ["/actuator/", "/api-docs/", "/swagger-ui"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
}

fn unauthorized(detail: &str) -> Response {
    let mut response = Problem::status(StatusCode::UNAUTHORIZED)
        .with_detail(detail)
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// Middleware enforcing [`Authenticator`].
pub async fn require_bearer(
    State(auth): State<Authenticator>,
    request: Request,
    next: Next,
) -> Response {
    let Some(verifier) = &auth.0 else {
        return next.run(request).await;
    };
    let read = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if is_open_path(request.uri().path()) || (read && !verifier.protect_reads) {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(token) = token else {
        return unauthorized("a bearer token is required");
    };
    match jsonwebtoken::decode::<Claims>(token, &verifier.key, &verifier.validation) {
        Ok(_) => next.run(request).await,
        Err(e) => {
            tracing::info!(reason = %e, "bearer token refused");
            unauthorized(&format!("the bearer token is not valid: {e}"))
        }
    }
}
