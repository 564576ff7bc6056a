//! Wire shapes more than one dialect shares: a whole number given as a JSON number or as a
//! string of digits (Core Lightning and Alby both take `"1234"` for `1234`).

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A non-negative integer, as a number or as a string of digits.
pub(crate) struct UintOrString;

impl PartialSchema for UintOrString {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0)))
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[0-9]+$")))
            .description(Some("A non-negative integer, as a number or as a string of digits"))
            .into()
    }
}

impl ToSchema for UintOrString {}

/// A whole number from a JSON number or a string of digits; anything else names what it got.
pub(crate) fn whole_number(v: &Value) -> Result<u64, String> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| format!("{n} is not a whole number")),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map_err(|_| format!("`{s}` is too large"))
        }
        other => Err(format!("{other} is not a whole number (a number or a string of digits)")),
    }
}

/// serde: a `u64` given as a number or a string of digits.
pub(crate) fn uint_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_number(&Value::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// serde: an optional `u64` given as a number or a string of digits (null: absent). Use with
/// `#[serde(default)]`.
pub(crate) fn opt_uint_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(v) => whole_number(&v).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::whole_number;

    #[test]
    fn numbers_and_strings_of_digits() {
        assert_eq!(whole_number(&json!(1234)), Ok(1234));
        assert_eq!(whole_number(&json!("1234")), Ok(1234));
        for bad in [json!(-1), json!(1.5), json!(""), json!("12a"), json!(" 1"), json!(null)] {
            assert!(whole_number(&bad).is_err(), "{bad}");
        }
        assert!(whole_number(&json!("99999999999999999999999")).unwrap_err().contains("large"));
    }
}
