//! Local decoding of invoices and offers, and the `--human` rendering of answers.

use serde_json::{json, Map, Value};

use super::Failure;

/// Decodes a BOLT11 invoice or a BOLT12 offer locally.
pub(super) fn decode(s: &str) -> Result<Value, Failure> {
    use boltd_node::deps::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};

    let s = s.trim();
    let s = s
        .strip_prefix("lightning:")
        .or_else(|| s.strip_prefix("LIGHTNING:"))
        .unwrap_or(s)
        .to_ascii_lowercase();
    if s.starts_with("lno1") {
        return decode_offer(&s);
    }
    let inv: Bolt11Invoice = s.parse().map_err(|e| Failure::Client {
        code: "invalid_input",
        message: format!("not a BOLT11 invoice or BOLT12 offer: {e}"),
    })?;
    let mut out = Map::new();
    out.insert("type".into(), json!("bolt11"));
    out.insert("network".into(), json!(inv.network().to_string()));
    out.insert("amount_msat".into(), json!(inv.amount_milli_satoshis()));
    match inv.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => {
            out.insert("description".into(), json!(d.to_string()));
        }
        Bolt11InvoiceDescriptionRef::Hash(h) => {
            out.insert("description_hash".into(), json!(h.0.to_string()));
        }
    }
    out.insert("payee".into(), json!(inv.get_payee_pub_key().to_string()));
    out.insert("payment_hash".into(), json!(inv.payment_hash().to_string()));
    let created = inv.duration_since_epoch().as_secs();
    let expiry = inv.expiry_time().as_secs();
    out.insert("created_at".into(), json!(created));
    out.insert("expiry_secs".into(), json!(expiry));
    out.insert("expires_at".into(), json!(created.saturating_add(expiry)));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    out.insert("expired".into(), json!(now >= created.saturating_add(expiry)));
    out.insert("min_final_cltv_expiry_delta".into(), json!(inv.min_final_cltv_expiry_delta()));
    out.insert("route_hints".into(), json!(inv.route_hints().len()));
    Ok(Value::Object(out))
}

fn decode_offer(s: &str) -> Result<Value, Failure> {
    use boltd_node::deps::bitcoin::Network;
    use boltd_node::deps::lightning::offers::offer::{Amount, Offer};

    let offer: Offer = s.parse().map_err(|e| Failure::Client {
        code: "invalid_input",
        message: format!("not a BOLT12 offer: {e:?}"),
    })?;
    let mut out = Map::new();
    out.insert("type".into(), json!("bolt12_offer"));
    out.insert("offer_id".into(), json!(hex::encode(offer.id().0)));
    let networks: Vec<String> = offer
        .chains()
        .into_iter()
        .map(|c| {
            Network::from_chain_hash(c).map(|n| n.to_string()).unwrap_or_else(|| c.to_string())
        })
        .collect();
    out.insert("networks".into(), json!(networks));
    match offer.amount() {
        Some(Amount::Bitcoin { amount_msats }) => {
            out.insert("amount_msat".into(), json!(amount_msats));
        }
        Some(Amount::Currency { iso4217_code, amount }) => {
            let code = String::from_utf8_lossy(iso4217_code.as_ref()).into_owned();
            out.insert("amount".into(), json!({"currency": code, "amount": amount}));
        }
        None => {
            out.insert("amount_msat".into(), Value::Null);
        }
    }
    out.insert("description".into(), json!(offer.description().map(|d| d.to_string())));
    out.insert("issuer".into(), json!(offer.issuer().map(|d| d.to_string())));
    out.insert(
        "issuer_signing_pubkey".into(),
        json!(offer.issuer_signing_pubkey().map(|k| k.to_string())),
    );
    out.insert("expires_at".into(), json!(offer.absolute_expiry().map(|d| d.as_secs())));
    out.insert("paths".into(), json!(offer.paths().len()));
    Ok(Value::Object(out))
}

// ---- output ----

pub(super) fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// A scalar for a table cell or a `key: value` line.
pub(super) fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => (if *b { "yes" } else { "no" }).into(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// Columns for the lists people read, recognised by a key only their items have.
fn columns_for(first: &Map<String, Value>) -> Vec<String> {
    let pick: &[&str] = if first.contains_key("peer_node_id") {
        &[
            "channel_id",
            "peer_node_id",
            "state",
            "short_channel_id",
            "capacity_sat",
            "outbound_msat",
            "inbound_msat",
            "public",
        ]
    } else if first.contains_key("direction") && first.contains_key("kind") {
        &[
            "id",
            "direction",
            "kind",
            "status",
            "amount_msat",
            "fee_msat",
            "payment_hash",
            "created_at",
        ]
    } else if first.contains_key("hold") && first.contains_key("state") {
        &[
            "id",
            "state",
            "amount_msat",
            "received_msat",
            "payment_hash",
            "expires_at",
            "description",
        ]
    } else if first.contains_key("scopes") && first.contains_key("active") {
        &["id", "name", "scopes", "active", "expires_at", "revoked_at", "max_payment_msat"]
    } else if first.contains_key("inbound") && first.contains_key("node_id") {
        &["node_id", "address", "inbound"]
    } else {
        &[]
    };
    if pick.is_empty() {
        // Any other list: its scalar fields.
        first
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, _)| k.clone())
            .collect()
    } else {
        pick.iter().map(|s| s.to_string()).collect()
    }
}

/// `--human`: an aligned table for a list of objects, `key: value` lines otherwise.
pub(super) fn human_text(v: &Value) -> String {
    match v {
        Value::Array(items) if items.is_empty() => "(none)".into(),
        Value::Array(items) if items.iter().all(Value::is_object) => {
            let cols = columns_for(items[0].as_object().expect("an object"));
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|it| cols.iter().map(|c| scalar(&it[c.as_str()])).collect())
                .collect();
            table(&cols, &rows)
        }
        Value::Object(_) | Value::Array(_) => {
            let mut lines = Vec::new();
            flatten("", v, &mut lines);
            let width = lines.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
            lines
                .iter()
                .map(|(k, v)| format!("{k}:{} {v}", " ".repeat(width - k.chars().count())))
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => scalar(other),
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&key(k), x, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, x) in a.iter().enumerate() {
                flatten(&key(&i.to_string()), x, out);
            }
        }
        Value::Array(_) => out.push((prefix.to_string(), "(none)".into())),
        other => out.push((prefix.to_string(), scalar(other))),
    }
}

fn table(cols: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(cols.iter().map(|c| c.to_uppercase()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_tables_and_lines() {
        let t = human_text(&json!([{"node_id": "02ab", "address": null, "inbound": true}]));
        assert_eq!(t, "NODE_ID  ADDRESS  INBOUND\n02ab     -        yes");
        let t = human_text(&json!({"a": 1, "onchain": {"confirmed_sat": 5}}));
        assert_eq!(t, "a:                     1\nonchain.confirmed_sat: 5");
    }
}
