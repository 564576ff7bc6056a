//! Core Lightning's JSON schemas (`tests/reference/cln-schemas/`) as validators.
//!
//! The schemas are draft-07 with Core Lightning's own types (`msat`, `pubkey`, `hash`,
//! `short_channel_id`, `u64`, ...) and annotations (`added`, `deprecated`, `hidden`, `untyped`,
//! `description` as a list of lines, a request's `oneOfMany`, `pairedWith`, `dependentUpon`).
//! [`Schemas::load`] rewrites each type onto standard JSON Schema (the rules of Core Lightning's
//! own test validator: numbers for `msat` and the unsigned types within their range, hex strings
//! of the right length for hashes, keys and signatures) and drops the annotations; a request
//! may also give an amount as a string with a unit (`"1000msat"`, `"2sat"`), as Core Lightning
//! parses it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

/// The Core Lightning methods boltd serves, each with its schema file.
pub const SERVED: &[&str] = &[
    "checkmessage",
    "decode",
    "delinvoice",
    "fetchinvoice",
    "getinfo",
    "invoice",
    "keysend",
    "listfunds",
    "listinvoices",
    "listpays",
    "listpeerchannels",
    "listsendpays",
    "newaddr",
    "offer",
    "pay",
    "signmessage",
    "waitanyinvoice",
    "waitinvoice",
    "withdraw",
    "xpay",
];

/// Where the schemas are: `BOLTD_CLN_SCHEMAS`, or the copy in the repository
/// (`tests/reference/cln-schemas`).
fn dir() -> PathBuf {
    if let Ok(d) = std::env::var("BOLTD_CLN_SCHEMAS") {
        return PathBuf::from(d);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for candidate in [repo.join("tests/reference/cln-schemas")] {
        if candidate.join("pay.json").exists() {
            return candidate;
        }
    }
    panic!(
        "Core Lightning's schemas are not found: set BOLTD_CLN_SCHEMAS to the folder holding \
         pay.json (Core Lightning's doc/schemas)"
    )
}

/// Request or response: a request takes amounts as strings with a unit too.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Request,
    Response,
}

/// An amount as Core Lightning parses one in a request.
const AMOUNT_STRING: &str = r"^[0-9]+(msat|sat)?$|^[0-9]+\.[0-9]+(sat|btc)$";

fn hex_len(n: usize) -> Value {
    json!({ "type": "string", "pattern": format!("^[0-9a-fA-F]{{{n}}}$") })
}

fn uint(max: u64) -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": max })
}

/// Core Lightning's type `t` as standard JSON Schema (`None`: a standard type).
fn cln_type(t: &str, side: Side) -> Option<Value> {
    let amount = |extra: Option<&str>| {
        let mut one_of = vec![json!({ "type": "integer", "minimum": 0 })];
        if side == Side::Request {
            one_of.push(json!({ "type": "string", "pattern": AMOUNT_STRING }));
        }
        if let Some(word) = extra {
            one_of.push(json!({ "const": word }));
        }
        json!({ "oneOf": one_of })
    };
    Some(match t {
        "hex" => json!({ "type": "string", "pattern": "^([0-9a-fA-F]{2})*$" }),
        "hash" | "secret" | "txid" => hex_len(64),
        "pubkey" => json!({ "type": "string", "pattern": "^0[23][0-9a-fA-F]{64}$" }),
        "signature" => json!({ "type": "string", "pattern": "^([0-9a-fA-F]{2}){8,73}$" }),
        "bip340sig" => hex_len(128),
        "u64" => uint(u64::MAX),
        "u32" => uint(u32::MAX as u64),
        "u16" => uint(u16::MAX as u64),
        "u8" => uint(u8::MAX as u64),
        "msat" | "sat" => amount(None),
        "msat_or_any" => amount(Some("any")),
        "msat_or_all" | "sat_or_all" => amount(Some("all")),
        "currency" => json!({ "type": "string", "pattern": "^[A-Z]{3}$" }),
        "short_channel_id" => json!({ "type": "string", "pattern": "^[0-9]+x[0-9]+x[0-9]+$" }),
        "short_channel_id_dir" => {
            json!({ "type": "string", "pattern": "^[0-9]+x[0-9]+x[0-9]+/[01]$" })
        }
        "outpoint" => json!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}:[0-9]+$" }),
        "feerate" => {
            json!({ "oneOf": [{ "type": "integer", "minimum": 0 }, { "type": "string" }] })
        }
        "outputdesc" => json!({ "type": "object" }),
        _ => return None,
    })
}

/// Core Lightning's annotations, which are no validation keywords.
const ANNOTATIONS: &[&str] = &[
    "added",
    "deprecated",
    "hidden",
    "untyped",
    "comment",
    "description",
    "default",
    "oneOfMany",
    "pairedWith",
    "dependentUpon",
    "pre_return_value_notes",
    "post_return_value_notes",
];

/// One schema (not a `properties` map) rewritten onto standard JSON Schema.
fn rewrite(schema: &Value, side: Side) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut out = Map::new();
    let mut replaced_type = None;
    for (k, v) in map {
        if ANNOTATIONS.contains(&k.as_str()) {
            continue;
        }
        let v = match k.as_str() {
            "type" => match v.as_str().and_then(|t| cln_type(t, side)) {
                Some(std) => {
                    replaced_type = Some(std);
                    continue;
                }
                None => v.clone(),
            },
            "properties" | "patternProperties" => Value::Object(
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, s)| (name.clone(), rewrite(s, side)))
                    .collect(),
            ),
            "items" | "if" | "then" | "else" | "not" | "additionalProperties" => rewrite(v, side),
            "allOf" | "anyOf" | "oneOf" => {
                Value::Array(v.as_array().unwrap().iter().map(|s| rewrite(s, side)).collect())
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    match replaced_type {
        None => Value::Object(out),
        // The rest of the schema (an `enum`, `properties`...) applies besides the type.
        Some(std) if out.is_empty() => std,
        Some(std) => json!({ "allOf": [std, Value::Object(out)] }),
    }
}

/// A method's schemas: the raw file and validators of its request and response.
struct Method {
    raw: Value,
    request: jsonschema::Validator,
    response: jsonschema::Validator,
}

/// The validators of every method boltd serves, and the violations found so far.
pub struct Schemas(BTreeMap<String, Method>, RefCell<Vec<String>>);

/// Known departures from Core Lightning's schemas, by method and the validator's message: none.
const KNOWN: &[(&str, &str)] = &[];

fn validator(schema: &Value, what: &str) -> jsonschema::Validator {
    jsonschema::draft7::new(schema).unwrap_or_else(|e| panic!("{what}: not a valid schema: {e}"))
}

impl Schemas {
    /// Loads and rewrites the schema of every method in [`SERVED`].
    pub fn load() -> Self {
        let dir = dir();
        let mut methods = BTreeMap::new();
        for m in SERVED {
            let path = dir.join(format!("{m}.json"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let raw: Value = serde_json::from_str(&text).unwrap();
            let mut request = rewrite(&raw["request"], Side::Request);
            request["type"] = json!("object");
            let mut response = rewrite(&raw["response"], Side::Response);
            if response.get("type").is_none() {
                response["type"] = json!("object");
            }
            let method = Method {
                request: validator(&request, &format!("{m} request")),
                response: validator(&response, &format!("{m} response")),
                raw,
            };
            methods.insert(m.to_string(), method);
        }
        Schemas(methods, RefCell::new(Vec::new()))
    }

    fn method(&self, m: &str) -> &Method {
        self.0.get(m).unwrap_or_else(|| panic!("no schema loaded for `{m}`: add it to SERVED"))
    }

    /// Panics, listing every violation, unless `params` is a valid request of `m`.
    pub fn check_request(&self, m: &str, params: &Value) {
        let errors: Vec<String> = self
            .method(m)
            .request
            .iter_errors(params)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "the test's own `{m}` request {params} breaks the schema: {errors:#?}"
        );
    }

    /// Notes every way `result` breaks `m`'s response schema (but the [`KNOWN`] ones);
    /// [`Schemas::assert_valid`] fails with all of them.
    pub fn check_response(&self, m: &str, result: &Value) {
        for e in self.method(m).response.iter_errors(result) {
            let msg = e.to_string();
            if KNOWN.iter().any(|(km, text)| *km == m && msg.contains(text)) {
                continue;
            }
            let at = e.instance_path().to_string();
            let got = result.pointer(&at).cloned().unwrap_or(Value::Null);
            self.1.borrow_mut().push(format!("{m}: {msg} at `{at}` (there: {got})"));
        }
    }

    /// Panics with every violation found, if any.
    pub fn assert_valid(&self) {
        let v = self.1.borrow();
        assert!(v.is_empty(), "answers break Core Lightning's schemas:\n{}", v.join("\n"));
    }

    /// The parameter names of `m`'s request schema.
    pub fn request_properties(&self, m: &str) -> Vec<String> {
        self.method(m).raw["request"]["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Panics unless `body` is clnrest's error object: `{code, message, data}` with a numeric code
/// and a message, with the status clnrest gives (500 for an RPC error; 401/403 for the
/// credential; 404 for an unknown method; 400 for bad parameters, which boltd refuses before
/// anything is attempted; 413/415 from boltd's edge).
pub fn check_error(m: &str, status: u16, body: &Value) {
    assert!(
        [400, 401, 403, 404, 413, 415, 500].contains(&status),
        "`{m}` answered {status}: clnrest answers 201 or an error status: {body}"
    );
    let obj =
        body.as_object().unwrap_or_else(|| panic!("`{m}`: the error is not an object: {body}"));
    assert!(
        obj.get("code").is_some_and(Value::is_i64),
        "`{m}`: the error has no numeric code: {body}"
    );
    assert!(
        obj.get("message").is_some_and(Value::is_string),
        "`{m}`: the error has no message: {body}"
    );
    assert!(obj.contains_key("data"), "`{m}`: the error has no `data` (null when empty): {body}");
    let extra: Vec<&String> =
        obj.keys().filter(|k| !["code", "message", "data"].contains(&k.as_str())).collect();
    assert!(extra.is_empty(), "`{m}`: the error has members besides code, message, data: {body}");
}

/// The request fields the OpenAPI operation `op` declares (its JSON body's properties).
pub fn request_fields(doc: &Value, op: &Value) -> Vec<String> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    // An optional body is `oneOf: [null, ...]` or `anyOf`; references point into components.
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap();
                doc["components"]["schemas"][name].clone()
            }
            None => s.clone(),
        }
    };
    let mut found = Vec::new();
    let mut pending = vec![resolve(schema)];
    while let Some(s) = pending.pop() {
        if let Some(p) = s["properties"].as_object() {
            found.extend(p.keys().cloned());
        }
        for k in ["oneOf", "anyOf", "allOf"] {
            if let Some(list) = s[k].as_array() {
                pending.extend(list.iter().map(resolve));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}
