//! Credit cards: accepted in full, kept only masked.
//!
//! [`RawCard`] holds a number as submitted and deliberately has no `Debug`, so it
//! cannot end up in a log line; [`MaskedCard::from_raw`] reduces it to the last
//! four digits, and the full number is dropped with the request.

use platform_infra::FieldError;
use serde::{Deserialize, Serialize};

/// Which of the customer's cards this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CardType {
    Primary,
    Alternate,
}

/// A card as submitted. No `Debug`, `Display` or `Serialize` on purpose.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreditCard)]
pub struct RawCard {
    #[serde(rename = "type")]
    pub card_type: CardType,
    #[serde(default)]
    pub description: Option<String>,
    /// 12–19 digits, spaces or dashes allowed; stored only as its last 4.
    #[schema(
        example = "1234-6789-0000-0000",
        pattern = r"^[ -]*([0-9][ -]*){12,19}$"
    )]
    pub number: String,
    /// `M/YY` or `MM/YY`.
    #[schema(example = "6/19", pattern = r"^(0?[1-9]|1[0-2])/[0-9]{2}$")]
    pub expiration: String,
    #[serde(default)]
    pub name_on_card: Option<String>,
}

/// A card as stored and shown: brand/description plus the last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MaskedCard {
    #[serde(rename = "type")]
    pub card_type: CardType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub last4: String,
    pub expiration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_on_card: Option<String>,
}

impl MaskedCard {
    /// Checks the number's format (12–19 digits; spaces and dashes allowed; no
    /// Luhn check, as the seed's sample numbers fail it) and the expiry format
    /// (`M/YY` or `MM/YY`), then keeps only the last four digits. `field` is the
    /// path of this card in the request, for error messages.
    pub fn from_raw(raw: RawCard, field: &str) -> Result<MaskedCard, Vec<FieldError>> {
        let mut errors = Vec::new();
        let digits: Option<String> = raw
            .number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .map(|c| c.is_ascii_digit().then_some(c))
            .collect();
        let last4 = match digits {
            Some(d) if (12..=19).contains(&d.len()) => d[d.len() - 4..].to_owned(),
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.number"),
                    "must be 12 to 19 digits, optionally grouped by spaces or dashes",
                ));
                String::new()
            }
        };
        if !is_expiry(&raw.expiration) {
            errors.push(FieldError::new(
                format!("{field}.expiration"),
                "must be M/YY or MM/YY",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(MaskedCard {
            card_type: raw.card_type,
            description: raw.description,
            last4,
            expiration: raw.expiration,
            name_on_card: raw.name_on_card,
        })
    }
}

fn is_expiry(value: &str) -> bool {
    let Some((month, year)) = value.split_once('/') else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    digits(month)
        && digits(year)
        && (1..=2).contains(&month.len())
        && year.len() == 2
        && month.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(number: &str, expiration: &str) -> RawCard {
        RawCard {
            card_type: CardType::Primary,
            description: Some("VISA".into()),
            number: number.into(),
            expiration: expiration.into(),
            name_on_card: None,
        }
    }

    #[test]
    fn seed_sample_number_is_masked_to_last_four() {
        let card = MaskedCard::from_raw(raw("1234-6789-0000-0000", "6/19"), "c").expect("valid");
        assert_eq!(card.last4, "0000");
        let card = MaskedCard::from_raw(raw("9999 8888 7777 6666", "03/20"), "c").expect("valid");
        assert_eq!(card.last4, "6666");
    }

    #[test]
    fn masked_card_serialization_holds_no_full_number() {
        let card = MaskedCard::from_raw(raw("1234-6789-0000-0000", "6/19"), "c").expect("valid");
        let json = serde_json::to_string(&card).expect("json");
        assert!(!json.contains("6789"), "{json}");
        assert!(!format!("{card:?}").contains("6789"));
    }

    #[test]
    fn bad_numbers_and_expiries_name_their_fields_without_the_number() {
        let errors =
            MaskedCard::from_raw(raw("1234-56", "13/19"), "creditCards[0]").expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["creditCards[0].number", "creditCards[0].expiration"]
        );
        assert!(errors.iter().all(|e| !e.message.contains("1234")));
        for bad in ["1234x678900000000", "12345678901234567890"] {
            assert!(
                MaskedCard::from_raw(raw(bad, "1/30"), "c").is_err(),
                "{bad}"
            );
        }
        for bad in ["6/2019", "0/19", "6-19", "/19", "006/19"] {
            assert!(
                MaskedCard::from_raw(raw("123456789012", bad), "c").is_err(),
                "{bad}"
            );
        }
    }
}
