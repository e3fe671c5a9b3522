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
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        const INVALID: &str = "must be an e-mail address like name@example.com";
        if value.len() > 254 || value.chars().any(char::is_whitespace) {
            return Err(INVALID);
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(INVALID);
        };
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || !domain_ok {
            return Err(INVALID);
        }
        Ok(Email(value.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
