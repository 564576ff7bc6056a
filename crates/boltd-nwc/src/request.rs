//! A request's parts: the decrypted `{method, params}`, its `expiration` tag, and the response
//! it gets (`{result_type, result}` or `{result_type, error: {code, message}}`).

use serde_json::{json, Value};

use crate::error::NwcError;

/// Longest decrypted request boltd reads, in bytes.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A decrypted request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The method's name.
    pub method: String,
    /// Its parameters (a JSON object; `{}` when absent).
    pub params: Value,
}

/// Parses a decrypted request: a JSON object with a string `method` and an object `params`.
pub fn parse_request(text: &str) -> Result<Request, NwcError> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(NwcError::bad(format!("the request is over {MAX_REQUEST_BYTES} bytes")));
    }
    let v: Value =
        serde_json::from_str(text).map_err(|e| NwcError::bad(format!("not JSON: {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(NwcError::bad("the request must be a JSON object"));
    };
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Err(NwcError::bad("the request has no `method`"));
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => json!({}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => return Err(NwcError::bad("`params` must be an object")),
    };
    Ok(Request { method: method.to_string(), params })
}

/// The `method` of a request that does not parse as a whole, for the error's `result_type`.
pub fn method_of(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("method").and_then(Value::as_str).map(String::from))
        .unwrap_or_default()
}

/// Whether a request with these tags has expired at `now` (unix seconds): its `expiration`
/// tag (NIP-40) is at or before `now`. A malformed `expiration` counts as expired (it cannot
/// be honoured, so it is not executed).
pub fn is_expired<'a>(tags: impl IntoIterator<Item = &'a [String]>, now: u64) -> bool {
    for t in tags {
        if t.first().map(String::as_str) == Some("expiration") {
            return match t.get(1).map(|s| s.parse::<u64>()) {
                Some(Ok(at)) => at <= now,
                _ => true,
            };
        }
    }
    false
}

/// The first value of the tag named `name`.
pub fn tag_value<'a>(tags: impl IntoIterator<Item = &'a [String]>, name: &str) -> Option<&'a str> {
    tags.into_iter()
        .find(|t| t.first().map(String::as_str) == Some(name))
        .and_then(|t| t.get(1))
        .map(String::as_str)
}

/// A success response's JSON.
pub fn result_json(method: &str, result: Value) -> Value {
    json!({ "result_type": method, "result": result })
}

/// An error response's JSON.
pub fn error_json(method: &str, error: &NwcError) -> Value {
    json!({
        "result_type": method,
        "error": { "code": error.code(), "message": error.to_string() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(v: &[&[&str]]) -> Vec<Vec<String>> {
        v.iter().map(|t| t.iter().map(|s| s.to_string()).collect()).collect()
    }

    #[test]
    fn requests_parse_or_are_refused_as_other() {
        let r = parse_request(r#"{"method":"get_info"}"#).unwrap();
        assert_eq!((r.method.as_str(), r.params), ("get_info", json!({})));
        let r = parse_request(r#"{"method":"pay_invoice","params":{"invoice":"lnbc1"}}"#).unwrap();
        assert_eq!(r.params["invoice"], "lnbc1");
        for bad in ["", "[]", "{}", r#"{"method":1}"#, r#"{"method":"x","params":[1]}"#, "nul"] {
            assert_eq!(parse_request(bad).unwrap_err().code(), "OTHER", "{bad}");
        }
        let big =
            format!(r#"{{"method":"x","params":{{"a":"{}"}}}}"#, "a".repeat(MAX_REQUEST_BYTES));
        assert_eq!(parse_request(&big).unwrap_err().code(), "OTHER");
        assert_eq!(method_of(r#"{"method":"pay_invoice","params":3}"#), "pay_invoice");
        assert_eq!(method_of("garbage"), "");
    }

    #[test]
    fn expiration_is_honoured() {
        let t = tags(&[&["p", "x"], &["expiration", "100"]]);
        let slices = || t.iter().map(Vec::as_slice);
        assert!(!is_expired(slices(), 99));
        assert!(is_expired(slices(), 100));
        assert!(is_expired(slices(), 101));
        let none = tags(&[&["p", "x"]]);
        assert!(!is_expired(none.iter().map(Vec::as_slice), u64::MAX));
        let bad = tags(&[&["expiration", "soon"]]);
        assert!(is_expired(bad.iter().map(Vec::as_slice), 0));
        assert_eq!(tag_value(t.iter().map(Vec::as_slice), "p"), Some("x"));
        assert_eq!(tag_value(t.iter().map(Vec::as_slice), "encryption"), None);
    }

    #[test]
    fn responses_have_the_specs_shape() {
        let e = error_json("pay_invoice", &NwcError::QuotaExceeded("over budget".into()));
        assert_eq!(
            e,
            json!({"result_type":"pay_invoice","error":{"code":"QUOTA_EXCEEDED","message":"over budget"}})
        );
        assert_eq!(result_json("get_balance", json!({"balance": 1}))["result"]["balance"], 1);
    }
}
