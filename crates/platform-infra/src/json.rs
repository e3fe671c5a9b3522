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
///
/// The body is read as a JSON value first (a syntax error is 400), then `T`
/// is read from the value through [`ValueDeserializer`], whose error type
/// records what serde reports as data (a missing field's name, a wrong type's
/// expectation) rather than as a message, and through
/// `serde_path_to_error`, which gives the path to it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Problem::typed(
            StatusCode::BAD_REQUEST,
            "/problems/malformed-json",
            "Malformed JSON",
        )
        .with_detail(format!(
            "the body is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    serde_path_to_error::deserialize(ValueDeserializer(&value)).map_err(|e| {
        let path = safe_path(&e.path().to_string());
        let field = e.into_inner().describe(&path);
        Problem::validation(vec![field])
    })
}

/// Why a JSON value does not have the shape of the type asked for. It never
/// holds the offending value, which may be a card number.
#[derive(Debug)]
enum ShapeError {
    Missing(&'static str),
    UnknownField,
    WrongType(String),
    NotAllowed(String),
    /// A type's own parser said why (a field rule's message).
    Rule(String),
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShapeError::Missing(field) => write!(f, "{field} is required"),
            ShapeError::UnknownField => f.write_str("is not a known field"),
            ShapeError::WrongType(expected) => write!(f, "has the wrong type, expected {expected}"),
            ShapeError::NotAllowed(expected) => write!(f, "is not allowed, expected {expected}"),
            ShapeError::Rule(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ShapeError {}

impl serde::de::Error for ShapeError {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        ShapeError::Rule(message.to_string())
    }

    fn missing_field(field: &'static str) -> Self {
        ShapeError::Missing(field)
    }

    fn unknown_field(_: &str, _: &'static [&'static str]) -> Self {
        ShapeError::UnknownField
    }

    fn invalid_type(_: serde::de::Unexpected<'_>, expected: &dyn serde::de::Expected) -> Self {
        ShapeError::WrongType(expected.to_string())
    }

    fn invalid_value(_: serde::de::Unexpected<'_>, expected: &dyn serde::de::Expected) -> Self {
        ShapeError::NotAllowed(expected.to_string())
    }

    fn invalid_length(_: usize, expected: &dyn serde::de::Expected) -> Self {
        ShapeError::NotAllowed(expected.to_string())
    }

    fn unknown_variant(_: &str, expected: &'static [&'static str]) -> Self {
        ShapeError::NotAllowed(format!("one of {}", expected.join(", ")))
    }
}

impl ShapeError {
    /// The field error at `path` (`.` for the body itself).
    fn describe(self, path: &str) -> FieldError {
        let parent = if path == "." { "" } else { path };
        match self {
            ShapeError::Missing(name) if parent.is_empty() => FieldError::new(name, "is required"),
            ShapeError::Missing(name) => FieldError::new(format!("{parent}.{name}"), "is required"),
            // The path already ends with the unknown key.
            ShapeError::UnknownField => FieldError::new(path, "is not a known field"),
            other if parent.is_empty() => FieldError::new("(body)", other.to_string()),
            other => FieldError::new(parent, other.to_string()),
        }
    }
}

/// A JSON value read as a serde data source whose errors are [`ShapeError`]s.
#[derive(Clone, Copy)]
struct ValueDeserializer<'a>(&'a serde_json::Value);

impl<'de> serde::de::IntoDeserializer<'de, ShapeError> for ValueDeserializer<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> serde::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ShapeError;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        use serde::de::value::{MapDeserializer, SeqDeserializer};
        use serde_json::Value;
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                (None, None, None) => {
                    Err(serde::de::Error::custom("is not a representable number"))
                }
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(ValueDeserializer));
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(value)
            }
            Value::Object(entries) => {
                let mut map = MapDeserializer::new(
                    entries
                        .iter()
                        .map(|(k, v)| (k.as_str(), ValueDeserializer(v))),
                );
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        match self.0 {
            serde_json::Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        match self.0 {
            serde_json::Value::String(s) => {
                visitor.visit_enum(serde::de::value::BorrowedStrDeserializer::<ShapeError>::new(s))
            }
            _ => Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Other("a non-string"),
                &visitor,
            )),
        }
    }

    fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
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
            // An index alone: an element of a top-level array.
            let index_only = name.is_empty() && segment.starts_with('[');
            let name_ok = index_only
                || (name.len() <= 64
                    && name.starts_with(|c: char| c.is_ascii_alphabetic())
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if name_ok && indexes_ok {
                segment
            } else {
                "(unknown field)"
            }
        })
        .collect::<Vec<_>>()
        .join(".")
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

    #[test]
    fn unknown_fields_and_enum_values_are_named_without_their_values() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            kind: Kind,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        enum Kind {
            A,
            B,
        }
        let p = parse::<Strict>(br#"{"kind":"C"}"#).expect_err("unknown variant");
        assert_eq!(p.errors[0].field, "kind");
        assert_eq!(p.errors[0].message, "is not allowed, expected one of A, B");
        let p = parse::<Strict>(br#"{"kind":"A","4111111111111111":1}"#).expect_err("unknown");
        assert_eq!(p.errors[0].field, "(unknown field)");
        assert_eq!(p.errors[0].message, "is not a known field");
        let p = parse::<Vec<Strict>>(br#"[{"kind":"A"},{"kind":"A","extra":1}]"#).expect_err("x");
        assert_eq!(p.errors[0].field, "[1].extra");
    }
}
