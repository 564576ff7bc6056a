//! Route control on real nodes: two routes from A to D of different fees and CLTV deltas,
//! A-B-D (cheap, slow: CLTV delta 400) and A-C-D (pricier, fast: CLTV delta 48). Core
//! Lightning's `exclude`, `riskfactor` and `maxdelay` each change which one is used, and a payment
//! larger than either channel completes in several parts.

use std::time::Duration;

use boltd_harness::{
    free_port, fund, mine_and_sync, open_channel, wait_until, Bitcoind, ChainAccess, HarnessError,
    TestNode,
};
use serde_json::{json, Value};

const B_FEE_BASE: u64 = 1_000;
const B_FEE_PPM: u64 = 100;
const B_CLTV: u64 = 400;
const C_FEE_BASE: u64 = 5_000;
const C_FEE_PPM: u64 = 1_000;
const C_CLTV: u64 = 48;

fn fee(base: u64, ppm: u64, amount_msat: u64) -> u64 {
    base + amount_msat * ppm / 1_000_000
}

/// Waits until `viewer`'s graph has `from`'s update for the channel `from`-`to`.
fn wait_for_update(
    viewer: &TestNode,
    from: &TestNode,
    to: &TestNode,
    cltv: u64,
) -> Result<(), HarnessError> {
    let ch = from.wait_channel_state(to, "ready")?;
    let scid = ch["short_channel_id"].as_str().unwrap().to_string();
    let what =
        format!("{}'s graph to see {}'s CLTV delta {cltv} on {scid}", viewer.name, from.name);
    wait_until(&what, Duration::from_secs(60), Duration::from_millis(200), || {
        let Ok(info) = viewer.get(&format!("/api/v1/node/graph/channels/{scid}")) else {
            return Ok(None);
        };
        let dir =
            if info["node_one"] == from.node_id.as_str() { "one_to_two" } else { "two_to_one" };
        Ok((info[dir]["cltv_expiry_delta"].as_u64() == Some(cltv)).then_some(()))
    })
}

fn pay(
    a: &TestNode,
    d: &TestNode,
    amount_sat: u64,
    params: Value,
) -> Result<Value, boltd_harness::ApiFailure> {
    let inv =
        d.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": amount_sat })).unwrap();
    let mut body = params;
    body["bolt11"] = inv["invoice"].clone();
    a.post("/v1/pay", body)
}

fn fee_paid(r: &Value) -> u64 {
    r["amount_sent_msat"].as_u64().unwrap() - r["amount_msat"].as_u64().unwrap()
}

#[test]
fn exclude_riskfactor_maxdelay_choose_the_route_and_mpp_splits() -> Result<(), HarnessError> {
    let btc = Bitcoind::start()?;
    let chain = ChainAccess::from(&btc);
    let dir = tempfile::tempdir().unwrap();
    let a = TestNode::start_in_process("alice", &dir.path().join("a"), &chain, free_port()?)?;
    let b = TestNode::start_in_process("bob", &dir.path().join("b"), &chain, free_port()?)?;
    let c = TestNode::start_in_process("carol", &dir.path().join("c"), &chain, free_port()?)?;
    let d = TestNode::start_in_process("dave", &dir.path().join("d"), &chain, free_port()?)?;
    let all = [&a, &b, &c, &d];
    btc.mine(101)?;
    fund(&btc, &a, &[&b, &c, &d])?;
    fund(&btc, &b, &[&a, &c, &d])?;
    fund(&btc, &c, &[&a, &b, &d])?;
    open_channel(&btc, &a, &b, 1_000_000, 0, &all)?;
    open_channel(&btc, &a, &c, 1_000_000, 0, &all)?;
    open_channel(&btc, &b, &d, 1_000_000, 0, &all)?;
    open_channel(&btc, &c, &d, 1_000_000, 0, &all)?;
    let cfg = |n: &TestNode, base: u64, ppm: u64, cltv: u64| {
        n.post(
            "/api/v1/node/channels/config",
            json!({ "fee_base_msat": base, "fee_ppm": ppm, "cltv_expiry_delta": cltv }),
        )
        .unwrap()
    };
    cfg(&b, B_FEE_BASE, B_FEE_PPM, B_CLTV);
    cfg(&c, C_FEE_BASE, C_FEE_PPM, C_CLTV);
    mine_and_sync(&btc, 1, &all)?;
    a.wait_for_gossip(4)?;
    wait_for_update(&a, &b, &d, B_CLTV)?;
    wait_for_update(&a, &c, &d, C_CLTV)?;

    let amount_msat = 100_000_000;
    let via_b = fee(B_FEE_BASE, B_FEE_PPM, amount_msat);
    let via_c = fee(C_FEE_BASE, C_FEE_PPM, amount_msat);

    // A fee quote computes the route without paying.
    let inv =
        d.post("/api/v1/lightning/receives/invoice", json!({ "amount_sat": 100_000 })).unwrap();
    let quote = a
        .get(&format!(
            "/api/v1/fees/lightning/pay?destination={}",
            inv["invoice"].as_str().unwrap()
        ))
        .unwrap();
    assert!(quote["fee_msat"] == via_b || quote["fee_msat"] == via_c, "{quote}");
    assert_eq!(quote["within_limits"], true);
    assert_eq!(quote["hops"], 2);

    // riskfactor 0: only fees count, the cheap route through B.
    let r = pay(&a, &d, 100_000, json!({ "riskfactor": 0 })).unwrap();
    assert_eq!(fee_paid(&r), via_b, "riskfactor 0 should pick B: {r}");
    // A large riskfactor makes B's 400-block delay cost more than C's fees.
    let r = pay(&a, &d, 100_000, json!({ "riskfactor": 1000 })).unwrap();
    assert_eq!(fee_paid(&r), via_c, "riskfactor 1000 should pick C: {r}");
    // Excluding B moves the payment to C even when only fees count.
    let r = pay(&a, &d, 100_000, json!({ "riskfactor": 0, "exclude": [b.node_id] })).unwrap();
    assert_eq!(fee_paid(&r), via_c, "excluding B should pick C: {r}");
    // maxdelay below B's delay leaves only C (and the shadow route stays within it).
    let r = pay(&a, &d, 100_000, json!({ "riskfactor": 0, "maxdelay": 300 })).unwrap();
    assert_eq!(fee_paid(&r), via_c, "maxdelay 300 should pick C: {r}");
    // maxdelay below both: no route within the limit, but one without it: 206.
    let err = pay(&a, &d, 100_000, json!({ "maxdelay": 50 })).unwrap_err();
    assert_eq!(err.body["code"], 206, "{err}");
    assert!(err.body["data"]["delay"].as_u64().unwrap() > 50, "{err}");

    // Larger than either channel can carry: it completes in several parts.
    let r = pay(&a, &d, 1_200_000, json!({})).unwrap();
    assert_eq!(r["status"], "complete", "{r}");
    assert!(r["parts"].as_u64().unwrap() >= 2, "a 1.2M sat payment over 1M sat channels: {r}");
    Ok(())
}
