//! Multi-part payments: the split, its caps and per-part limits.

use super::*;

#[test]
fn mpp_splits_within_caps_and_limits() {
    // Three routes of 100 000 sat each (capacity 100 000 sat on the last hop; saturation is
    // relaxed when needed); 250 000 sat needs three parts.
    let (n, scids) = parallel(3, 100_000, |i| (1_000, 100 * (i as u32 + 1)));
    let view = n.view();
    let amount = 250_000_000;
    let limit = 500_000;
    for seed in 0..20 {
        let policy = PaymentPolicy { seed, ..PaymentPolicy::default() };
        let r = ours(&view, 0, &mpp_params(9, amount, Some(limit)), &policy).unwrap();
        assert!(r.paths.len() >= 3, "{r:?}");
        assert!(r.paths.len() <= 10);
        let delivered: u64 = r.paths.iter().map(|p| p.final_value_msat()).sum();
        assert_eq!(delivered, amount);
        assert!(r.get_total_fees() <= limit);
        // Per channel direction, the parts together stay within the capacity.
        let mut load = std::collections::HashMap::new();
        for p in &r.paths {
            let mut downstream = 0;
            for h in p.hops.iter().rev() {
                downstream += h.fee_msat;
                *load.entry(h.short_channel_id).or_insert(0u64) += downstream;
            }
        }
        for (_, b) in &scids {
            assert!(load.get(b).copied().unwrap_or(0) <= 100_000_000, "{load:?}");
        }
        // Each part's fees are its hops' own.
        for p in &r.paths {
            let mid = &p.hops[0];
            let i = scids.iter().position(|(a, _)| *a == mid.short_channel_id).unwrap();
            let fee = 1_000 + p.final_value_msat() * 100 * (i as u64 + 1) / 1_000_000;
            assert_eq!(mid.fee_msat, fee);
        }
    }
    // Without MPP support the payment needs one path that can carry it: none.
    let e = ours(&view, 0, &params(9, amount, Some(limit)), &fixed(0.0)).unwrap_err();
    assert_eq!(e, SearchError::Failed(ERR_NO_PATH));
    // More than all routes together: not enough.
    let e = ours(&view, 0, &mpp_params(9, 301_000_000, None), &fixed(0.0)).unwrap_err();
    assert_eq!(e, SearchError::Failed(ERR_INSUFFICIENT));
    // LDK agrees on both.
    assert!(ldk(&n, 0, &mpp_params(9, amount, Some(limit)), None, [0; 32]).is_ok());
    assert!(ldk(&n, 0, &mpp_params(9, 301_000_000, None), None, [0; 32]).is_err());
    // A payment one route can carry stays in one part.
    let r = ours(&view, 0, &mpp_params(9, 20_000_000, None), &fixed(0.0)).unwrap();
    assert_eq!(r.paths.len(), 1);
}

#[test]
fn htlc_maximum_bounds_each_part_not_their_sum() {
    // The only way to 2 is 1-2: 1 000 000 sat of capacity, at most 100 000 sat per HTLC.
    let mut n = Net::new();
    n.chan(0, 1, 10_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(1, 2, 1_000_000, Policy { max: Some(100_000_000), ..pol(0, 10, 40) }, pol(0, 0, 40));
    let view = n.view();
    // 250 000 sat: three HTLCs over the same channel, none above its maximum (not merged).
    let r = ours(&view, 0, &mpp_params(2, 250_000_000, None), &fixed(0.0)).unwrap();
    assert!(r.paths.len() >= 3, "{r:?}");
    let delivered: u64 = r.paths.iter().map(|p| p.final_value_msat()).sum();
    assert_eq!(delivered, 250_000_000);
    for p in &r.paths {
        assert!(p.final_value_msat() <= 100_000_000, "{p:?}");
    }
    // One path cannot: without MPP there is no route.
    assert!(ours(&view, 0, &params(2, 250_000_000, None), &fixed(0.0)).is_err());
    // More than the capacity: not even in parts.
    assert!(ours(&view, 0, &mpp_params(2, 1_000_000_001, None), &fixed(0.0)).is_err());
}

#[test]
fn a_payment_no_path_can_carry_is_split_in_halves_or_less() {
    // Into 3 via 1 or 2, 100 000 sat channels with 99 000 sat maxima; via 1 is cheaper.
    let mut n = Net::new();
    let max = Policy { max: Some(99_000_000), ..pol(0, 0, 40) };
    n.chan(0, 1, 10_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(0, 2, 10_000_000, pol(0, 0, 40), pol(0, 0, 40));
    n.chan(1, 3, 100_000, Policy { base: 0, ..max }, pol(0, 0, 40));
    n.chan(2, 3, 100_000, Policy { base: 1_000, ..max }, pol(0, 0, 40));
    let view = n.view();
    // 100 000 sat: not 99 000 over the cheap channel (at its limit, unlikely to get through)
    // and 1 000 over the other, but 50 000 over each.
    let r = ours(&view, 0, &mpp_params(3, 100_000_000, None), &fixed(0.0)).unwrap();
    let mut parts: Vec<u64> = r.paths.iter().map(|p| p.final_value_msat()).collect();
    parts.sort_unstable();
    assert_eq!(parts, vec![50_000_000, 50_000_000], "{r:?}");
    // A payment one path carries stays whole.
    let r = ours(&view, 0, &mpp_params(3, 90_000_000, None), &fixed(0.0)).unwrap();
    assert_eq!(r.paths.len(), 1, "{r:?}");
}
