//! The field rules of the contract, one definition each: a newtype that only
//! a successful `parse` makes, and whose JSON Schema (in the OpenAPI documents
//! and the event contract) is built from the same constants, so that the
//! published schema and the parser cannot disagree.
//!
//! Character sets are written out explicitly rather than as `\s` or `\d`,
//! because regex engines disagree on what those mean.

use std::fmt;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

/// The blank characters as a regex class body: ASCII controls and space,
/// DEL to NBSP, the Unicode spaces, line and paragraph separators and the BOM.
pub const BLANK_CLASS: &str =
    r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff";

/// Whether `c` is in [`BLANK_CLASS`].
pub fn is_space(c: char) -> bool {
    matches!(c,
        '\0'..=' '
        | '\u{7f}'..='\u{a0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200a}'
        | '\u{2028}'
        | '\u{2029}'
        | '\u{202f}'
        | '\u{205f}'
        | '\u{3000}'
        | '\u{feff}')
}

/// Whether `value` has nothing but blank characters.
pub fn is_blank(value: &str) -> bool {
    value.chars().all(is_space)
}

/// Longest free-text field, in characters.
pub const MAX_TEXT_LEN: usize = 200;

/// Why a value is not a valid field: the message names the rule, never the
/// value (which may be personal data).
pub type Rejection = &'static str;

/// Implements the parts every field newtype shares: reading it back, and the
/// wire form (a JSON string, parsed on the way in; the schema from `schema`).
macro_rules! field_newtype {
    ($name:ident) => {
        impl $name {
            /// The parsed value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The parsed value, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Rejection;
            fn from_str(value: &str) -> Result<Self, Rejection> {
                $name::parse(value)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                $name::parse(&value).map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $name::schema().into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

/// A JSON Schema string.
fn string(min_length: Option<usize>, max_length: usize, pattern: Option<String>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min_length)
        .max_length(Some(max_length))
        .pattern(pattern)
}

/// `schema`, also allowing `null`: an optional field.
fn nullable(schema: ObjectBuilder) -> Schema {
    schema
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .into()
}

/// Text that must say something: not blank, at most [`MAX_TEXT_LEN`]
/// characters (a name, a street, a city).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequiredText(String);
field_newtype!(RequiredText);

impl RequiredText {
    pub fn parse(value: &str) -> Result<Self, Rejection> {
        if is_blank(value) {
            return Err("must not be blank");
        }
        check_text_len(value)?;
        Ok(RequiredText(value.to_owned()))
    }

    /// At least one character outside [`BLANK_CLASS`], at most
    /// [`MAX_TEXT_LEN`].
    pub fn schema() -> Schema {
        string(Some(1), MAX_TEXT_LEN, Some(format!("[^{BLANK_CLASS}]"))).into()
    }
}

/// Optional text (a title, a description): at most [`MAX_TEXT_LEN`]
/// characters, blank allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OptionalText(String);
field_newtype!(OptionalText);

impl OptionalText {
    pub fn parse(value: &str) -> Result<Self, Rejection> {
        check_text_len(value)?;
        Ok(OptionalText(value.to_owned()))
    }

    /// A string or `null` of at most [`MAX_TEXT_LEN`] characters.
    pub fn schema() -> Schema {
        nullable(string(None, MAX_TEXT_LEN, None))
    }
}

fn check_text_len(value: &str) -> Result<(), Rejection> {
    if value.chars().count() > MAX_TEXT_LEN {
        return Err("must be at most 200 characters");
    }
    Ok(())
}

/// Longest customer id.
pub const CUSTOMER_ID_MAX_LEN: usize = 64;
/// What a customer id may hold besides ASCII letters and digits.
const CUSTOMER_ID_EXTRA: &str = "._:-";

/// A customer id: 1–64 characters from `A–Z a–z 0–9 . _ : -`, so it is safe in
/// a URL path, a Kafka key and a MongoDB `_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomerId(String);
field_newtype!(CustomerId);

impl CustomerId {
    pub fn parse(value: &str) -> Result<Self, Rejection> {
        if value.is_empty() {
            return Err("must not be empty");
        }
        if value.len() > CUSTOMER_ID_MAX_LEN {
            return Err("must be at most 64 characters");
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || CUSTOMER_ID_EXTRA.contains(c))
        {
            return Err("may only contain letters, digits, '.', '_', ':' and '-'");
        }
        Ok(CustomerId(value.to_owned()))
    }

    /// The pattern of a customer id.
    pub fn pattern() -> String {
        format!("^[A-Za-z0-9{CUSTOMER_ID_EXTRA}]{{1,{CUSTOMER_ID_MAX_LEN}}}$")
    }

    pub fn schema() -> Schema {
        string(None, CUSTOMER_ID_MAX_LEN, Some(Self::pattern()))
            .examples(["123456"])
            .into()
    }
}

/// Longest e-mail address, in characters (RFC 5321's path limit).
pub const EMAIL_MAX_LEN: usize = 254;
/// Characters no part of an address may hold besides `@`: ASCII controls,
/// space and DEL, as a regex class body.
const EMAIL_FORBIDDEN: &str = r"\x00-\x20\x7f";

/// An e-mail address of the shape `local@domain.tld`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);
field_newtype!(Email);

impl Email {
    /// One `@`, a local part, a domain of at least two non-empty labels, none
    /// of [`EMAIL_FORBIDDEN`], at most [`EMAIL_MAX_LEN`] characters (as the
    /// schema's `maxLength` counts them, not bytes).
    pub fn parse(value: &str) -> Result<Self, Rejection> {
        const INVALID: &str = "must be an e-mail address like name@example.com";
        let allowed = |c: char| c > ' ' && c != '\u{7f}' && c != '@';
        let Some((local, domain)) = value.split_once('@') else {
            return Err(INVALID);
        };
        let local_ok = !local.is_empty() && local.chars().all(allowed);
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels
                .iter()
                .all(|l| !l.is_empty() && l.chars().all(allowed));
        if value.chars().count() > EMAIL_MAX_LEN || !local_ok || !domain_ok {
            return Err(INVALID);
        }
        Ok(Email(value.to_owned()))
    }

    pub fn schema() -> Schema {
        let f = EMAIL_FORBIDDEN;
        string(
            None,
            EMAIL_MAX_LEN,
            Some(format!(r"^[^@{f}]+@[^@.{f}]+(\.[^@.{f}]+)+$")),
        )
        .into()
    }
}

/// Longest phone number, in characters.
pub const PHONE_MAX_LEN: usize = 25;
/// Digits of a phone number (E.164 allows at most 15).
pub const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;
/// What may stand between the digits.
const PHONE_SEPARATORS: &str = " .()-";

/// A phone number: digits with an optional leading `+`, and spaces, dashes,
/// dots or parentheses between them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);
field_newtype!(Phone);

impl Phone {
    pub fn parse(value: &str) -> Result<Self, Rejection> {
        const INVALID: &str = "must be a phone number of 7 to 15 digits, optionally with a leading '+' and spaces, dashes, dots or parentheses";
        let body = value.strip_prefix('+').unwrap_or(value);
        let allowed = body
            .chars()
            .all(|c| c.is_ascii_digit() || PHONE_SEPARATORS.contains(c));
        let digits = body.chars().filter(char::is_ascii_digit).count();
        if value.len() > PHONE_MAX_LEN || !allowed || !PHONE_DIGITS.contains(&digits) {
            return Err(INVALID);
        }
        Ok(Phone(value.to_owned()))
    }

    fn builder() -> ObjectBuilder {
        let (s, min, max) = (PHONE_SEPARATORS, PHONE_DIGITS.start(), PHONE_DIGITS.end());
        string(
            None,
            PHONE_MAX_LEN,
            Some(format!(r"^\+?[{s}]*([0-9][{s}]*){{{min},{max}}}$")),
        )
    }

    pub fn schema() -> Schema {
        Self::builder().into()
    }

    /// The schema of an optional phone number.
    pub fn optional_schema() -> Schema {
        nullable(Self::builder())
    }
}

/// Length of a postal code, in characters.
pub const POSTAL_CODE_LEN: std::ops::RangeInclusive<usize> = 3..=10;
/// What a postal code may hold between its first and last letter or digit.
const POSTAL_CODE_INNER: &str = " -";

/// A postal code: 3–10 letters, digits, spaces or dashes, starting and ending
/// with a letter or digit (`12345`, `12345-6789`, `SW1A 1AA`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PostalCode(String);
field_newtype!(PostalCode);

impl PostalCode {
    pub fn parse(value: &str) -> Result<Self, Rejection> {
        const INVALID: &str = "must be a postal code of 3 to 10 letters, digits, spaces or dashes, starting and ending with a letter or digit";
        let allowed = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || POSTAL_CODE_INNER.contains(c));
        let ends_ok = value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !allowed || !ends_ok || !POSTAL_CODE_LEN.contains(&value.len()) {
            return Err(INVALID);
        }
        Ok(PostalCode(value.to_owned()))
    }

    pub fn schema() -> Schema {
        let (min, max) = (POSTAL_CODE_LEN.start() - 2, POSTAL_CODE_LEN.end() - 2);
        let inner = POSTAL_CODE_INNER;
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "3–10 letters, digits, spaces or dashes, starting and ending with a letter or digit.",
            ))
            .pattern(Some(format!(
                "^[A-Za-z0-9][A-Za-z0-9{inner}]{{{min},{max}}}[A-Za-z0-9]$"
            )))
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema's pattern, compiled as the validators of the OpenAPI
    /// document would (anchored only where the pattern says so).
    fn pattern_of(schema: Schema) -> regex::Regex {
        let Schema::Object(object) = schema else {
            panic!("not an object schema")
        };
        let pattern = object.pattern.expect("a pattern");
        regex::Regex::new(&pattern).expect("the pattern compiles")
    }

    /// The parser and the published pattern agree on every sample.
    fn agree<T>(schema: Schema, parse: fn(&str) -> Result<T, Rejection>, samples: &[&str]) {
        let pattern = pattern_of(schema);
        for sample in samples {
            assert_eq!(
                parse(sample).is_ok(),
                pattern.is_match(sample),
                "{sample:?}: the parser and the schema disagree"
            );
        }
    }

    #[test]
    fn phone_numbers_in_common_notations_pass_and_text_fails() {
        let ok = [
            "555-666-7777",
            "+44 20 7946 0958",
            "(555) 444.9898",
            "5556667",
        ];
        let bad = [
            "",
            "call me",
            "555",
            "+1 555 666 7777 8888 99",
            "555-666-7777 ext",
            "++5556667",
        ];
        ok.iter()
            .for_each(|s| assert!(Phone::parse(s).is_ok(), "{s}"));
        bad.iter()
            .for_each(|s| assert!(Phone::parse(s).is_err(), "{s}"));
        agree(Phone::schema(), Phone::parse, &[&ok[..], &bad[..]].concat());
    }

    #[test]
    fn postal_codes_of_several_countries_pass_and_junk_fails() {
        let ok = ["12345", "12345-6789", "SW1A 1AA", "75008", "K1A 0B1", "123"];
        let bad = ["", "12", "12345678901", "123$5", "-1234", "1234-"];
        ok.iter()
            .for_each(|s| assert!(PostalCode::parse(s).is_ok(), "{s}"));
        bad.iter()
            .for_each(|s| assert!(PostalCode::parse(s).is_err(), "{s}"));
        agree(
            PostalCode::schema(),
            PostalCode::parse,
            &[&ok[..], &bad[..]].concat(),
        );
    }

    #[test]
    fn customer_id_accepts_seed_id_and_rejects_path_characters() {
        let ok = ["123456", "cust-1.a_b:c", &"x".repeat(64)];
        let long = "x".repeat(65);
        let bad = ["", "a/b", "a b", &long];
        ok.iter()
            .for_each(|s| assert!(CustomerId::parse(s).is_ok(), "{s}"));
        bad.iter()
            .for_each(|s| assert!(CustomerId::parse(s).is_err(), "{s}"));
        agree(
            CustomerId::schema(),
            CustomerId::parse,
            &[&ok[..], &bad[..]].concat(),
        );
    }

    #[test]
    fn email_needs_local_part_and_dotted_domain() {
        // 254 characters, more than 254 bytes: within the schema's maxLength.
        let wide = format!("{}@{}.com", "é".repeat(200), "d".repeat(49));
        assert_eq!(wide.chars().count(), 254);
        assert!(Email::parse(&wide).is_ok());
        assert!(Email::parse(&format!("é{wide}")).is_err());
        let ok = ["john.doe@internet.com", "a@b.c"];
        let bad = [
            "",
            "john",
            "@x.com",
            "john@",
            "john@localhost",
            "a@b..c",
            "a b@c.d",
            "a@b@c.d",
        ];
        ok.iter()
            .for_each(|s| assert!(Email::parse(s).is_ok(), "{s}"));
        bad.iter()
            .for_each(|s| assert!(Email::parse(s).is_err(), "{s:?} accepted"));
        agree(Email::schema(), Email::parse, &[&ok[..], &bad[..]].concat());
    }

    #[test]
    fn required_text_is_not_blank_and_at_most_200_characters() {
        let long = "é".repeat(201);
        assert!(RequiredText::parse(&"é".repeat(200)).is_ok());
        for bad in ["", " \t\u{1c}\u{a0}\u{3000}\u{7f}", &long] {
            assert!(RequiredText::parse(bad).is_err(), "{bad:?}");
        }
        assert!(OptionalText::parse(" ").is_ok());
        assert!(OptionalText::parse(&long).is_err());
        // The pattern only says "not blank"; maxLength says the rest.
        agree(
            RequiredText::schema(),
            |s| {
                if is_blank(s) { Err("blank") } else { Ok(()) }
            },
            &["", " ", "\u{3000}\u{feff}", " a ", "é"],
        );
    }

    #[test]
    fn field_newtypes_read_and_write_json_strings() {
        let phone: Phone = serde_json::from_str("\"555-666-7777\"").expect("valid");
        assert_eq!(
            serde_json::to_string(&phone).expect("json"),
            "\"555-666-7777\""
        );
        let error = serde_json::from_str::<Phone>("\"call me\"").expect_err("invalid");
        assert!(
            error.to_string().contains("must be a phone number"),
            "{error}"
        );
    }
}
