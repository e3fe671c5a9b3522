//! Newtypes for customer fields whose format matters beyond "not blank".

use std::fmt;

/// Longest customer id accepted.
pub const MAX_ID_LEN: usize = 64;

/// A customer id: 1–64 characters from `A–Z a–z 0–9 . _ : -`, so it is safe in a
/// URL path, a Kafka key and a MongoDB `_id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomerId(String);

impl CustomerId {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.is_empty() {
            return Err("must not be empty");
        }
        if value.len() > MAX_ID_LEN {
            return Err("must be at most 64 characters");
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        {
            return Err("may only contain letters, digits, '.', '_', ':' and '-'");
        }
        Ok(CustomerId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An e-mail address of the shape `local@domain.tld`, at most 254 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// `local@domain.tld`: one `@`, a domain of at least two non-empty labels,
    /// no ASCII controls or spaces, at most 254 characters (as the schema's
    /// `maxLength` counts them, not bytes).
    pub fn parse(value: &str) -> Result<Self, &'static str> {
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
        if value.chars().count() > 254 || !local_ok || !domain_ok {
            return Err(INVALID);
        }
        Ok(Email(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Checks a phone number: digits with optional `+` at the start and spaces,
/// dashes, dots or parentheses between them; 7–15 digits (E.164 allows 15),
/// at most 25 characters.
pub fn check_phone(value: &str) -> Result<(), &'static str> {
    const INVALID: &str = "must be a phone number of 7 to 15 digits, optionally with a leading '+' and spaces, dashes, dots or parentheses";
    let body = value.strip_prefix('+').unwrap_or(value);
    let allowed = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'));
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if value.len() > 25 || !allowed || !(7..=15).contains(&digits) {
        return Err(INVALID);
    }
    Ok(())
}

/// Checks a postal code: 3–10 letters, digits, spaces or dashes, starting and
/// ending with a letter or digit (`12345`, `12345-6789`, `SW1A 1AA`).
pub fn check_postal_code(value: &str) -> Result<(), &'static str> {
    const INVALID: &str = "must be a postal code of 3 to 10 letters, digits, spaces or dashes, starting and ending with a letter or digit";
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-'));
    let ends_ok = value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !allowed || !ends_ok || !(3..=10).contains(&value.len()) {
        return Err(INVALID);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_common_notations_pass_and_text_fails() {
        for ok in [
            "555-666-7777",
            "+44 20 7946 0958",
            "(555) 444.9898",
            "5556667",
        ] {
            assert!(check_phone(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "call me",
            "555",
            "+1 555 666 7777 8888 99",
            "555-666-7777 ext",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postal_codes_of_several_countries_pass_and_junk_fails() {
        for ok in ["12345", "12345-6789", "SW1A 1AA", "75008", "K1A 0B1"] {
            assert!(check_postal_code(ok).is_ok(), "{ok}");
        }
        for bad in ["", "12", "12345678901", "123$5", "-1234", "1234-"] {
            assert!(check_postal_code(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn customer_id_accepts_seed_id_and_rejects_path_characters() {
        assert!(CustomerId::parse("123456").is_ok());
        assert!(CustomerId::parse("cust-1.a_b:c").is_ok());
        assert!(CustomerId::parse("").is_err());
        assert!(CustomerId::parse("a/b").is_err());
        assert!(CustomerId::parse("a b").is_err());
        assert!(CustomerId::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn email_needs_local_part_and_dotted_domain() {
        assert!(Email::parse("john.doe@internet.com").is_ok());
        // 254 characters, more than 254 bytes: within the schema's maxLength.
        let wide = format!("{}@{}.com", "é".repeat(200), "d".repeat(49));
        assert_eq!(wide.chars().count(), 254);
        assert!(Email::parse(&wide).is_ok());
        assert!(Email::parse(&format!("é{wide}")).is_err());
        for bad in [
            "",
            "john",
            "@x.com",
            "john@",
            "john@localhost",
            "a@b..c",
            "a b@c.d",
            "a@b@c.d",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
