//! A JSON body extractor whose rejections are problem+json and name the field.
//!
//! axum's own `Json` rejects with plain text and without the path of the bad
//! field. This one answers 415 for a wrong content type, 400 for JSON that does
//! not parse, and 422 with `errors[].field` for JSON of the wrong shape. Error
//! messages never echo the offending value, since it may be a card number.

use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::problem::{FieldError, Problem};

/// A request body parsed from JSON into `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !has_json_content_type(&req) {
            return Err(Problem::status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with_detail("expected Content-Type: application/json"));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::status(e.status()).with_detail(e.body_text()))?;
        parse(&bytes).map(JsonBody)
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses `bytes` as JSON into `T`, mapping failures to problems.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        problem_for(&path, e.into_inner())
    })?;
    de.end().map_err(|e| problem_for(".", e))?;
    Ok(value)
}

fn problem_for(path: &str, error: serde_json::Error) -> Problem {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => {
            let (field, message) = describe_data_error(path, &error.to_string());
            Problem::validation(vec![FieldError::new(field, message)])
        }
        Category::Syntax | Category::Eof | Category::Io => Problem::typed(
            StatusCode::BAD_REQUEST,
            "/problems/malformed-json",
            "Malformed JSON",
        )
        .with_detail(format!(
            "the body is not valid JSON (line {}, column {})",
            error.line(),
            error.column()
        )),
    }
}

/// Turns serde's message into a field path and a message that does not repeat
/// the rejected value.
fn describe_data_error(path: &str, raw: &str) -> (String, String) {
    let path = &safe_path(path);
    let message = raw.split(" at line ").next().unwrap_or(raw);
    let parent = if path == "." { "" } else { path };
    let join = |child: &str| {
        if parent.is_empty() {
            child.to_owned()
        } else {
            format!("{parent}.{child}")
        }
    };
    if let Some(name) = backticked(message, "missing field `") {
        return (join(name), "is required".to_owned());
    }
    if message.starts_with("unknown field `") {
        // serde's path already ends with the unknown key.
        return (path.to_owned(), "is not a known field".to_owned());
    }
    let field = if parent.is_empty() {
        "(body)".to_owned()
    } else {
        parent.to_owned()
    };
    let message = match message.split_once(", expected ") {
        Some((_, expected)) if message.starts_with("invalid type") => {
            format!("has the wrong type, expected {expected}")
        }
        Some((_, expected)) => format!("is not allowed, expected {expected}"),
        None if message.starts_with("invalid") || message.starts_with("unknown") => {
            "is not valid".to_owned()
        }
        None => message.to_owned(),
    };
    (field, message)
}

/// The path with every segment that is not a plain field name (with indexes)
/// replaced: keys are the client's, and one could be a pasted card number.
fn safe_path(path: &str) -> String {
    if path == "." {
        return path.to_owned();
    }
    path.split('.')
        .map(|segment| {
            let name = segment.split('[').next().unwrap_or_default();
            let indexes_ok = segment[name.len()..].split_terminator(']').all(|index| {
                index
                    .strip_prefix('[')
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            let name_ok = name.len() <= 64
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if name_ok && indexes_ok {
                segment
            } else {
                "(unknown field)"
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn backticked<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_keep_field_names_and_indexes_and_hide_anything_else() {
        assert_eq!(safe_path("creditCards[0].number"), "creditCards[0].number");
        assert_eq!(safe_path("name.1234678900000000"), "name.(unknown field)");
        assert_eq!(safe_path("a[x]"), "(unknown field)");
        assert_eq!(safe_path("."), ".");
    }
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Outer {
        name: Inner,
        cards: Vec<Card>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Inner {
        first_name: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Card {
        number: String,
    }

    fn rejection(body: &str) -> Problem {
        parse::<Outer>(body.as_bytes()).expect_err("must be rejected")
    }

    #[test]
    fn missing_nested_field_is_named_with_its_path() {
        let p = rejection(r#"{"name":{},"cards":[]}"#);
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.errors[0].field, "name.firstName");
        assert_eq!(p.errors[0].message, "is required");
    }

    #[test]
    fn wrong_type_names_the_field_without_echoing_the_value() {
        let p = rejection(r#"{"name":{"firstName":"A"},"cards":[{"number":4111111111111111}]}"#);
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.errors[0].field, "cards[0].number");
        let text = serde_json::to_string(&p).expect("json");
        assert!(!text.contains("4111111111111111"), "{text}");
    }

    #[test]
    fn syntax_error_is_400() {
        assert_eq!(rejection(r#"{"name": "#).status, StatusCode::BAD_REQUEST);
        assert_eq!(
            rejection(r#"{"name":{"firstName":"A"},"cards":[]} x"#).status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn missing_top_level_field_is_named_plainly() {
        let p = rejection(r#"{"name":{"firstName":"A"}}"#);
        assert_eq!(p.errors[0].field, "cards");
    }
}
