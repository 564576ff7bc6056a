//! Tests of LNURL: pay, withdraw and the answers' shapes.

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

use super::*;

const META: &str = r#"[["text/plain","Payment to carol@127.0.0.1:3000"],["text/identifier","carol@127.0.0.1:3000"]]"#;

fn params_json() -> Value {
    json!({ "callback": "https://example.com/cb?x=1", "minSendable": 1000,
            "maxSendable": 5000, "metadata": META, "tag": "payRequest", "commentAllowed": 5 })
}

fn invoice(
    currency: Currency,
    amount_msat: Option<u64>,
    description: Result<&str, &str>,
) -> String {
    let key = SecretKey::from_slice(&[7; 32]).unwrap();
    let b = InvoiceBuilder::new(currency);
    let b = match description {
        Ok(hashed) => b.description_hash(sha256::Hash::hash(hashed.as_bytes())),
        Err(direct) => b.description(direct.into()),
    };
    let mut b = b
        .payment_hash(sha256::Hash::hash(b"preimage"))
        .payment_secret(PaymentSecret([1; 32]))
        .duration_since_epoch(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap(),
        )
        .min_final_cltv_expiry_delta(144);
    if let Some(a) = amount_msat {
        b = b.amount_milli_satoshis(a);
    }
    b.build_signed(|h| Secp256k1::new().sign_ecdsa_recoverable(h, &key)).unwrap().to_string()
}

#[test]
fn pay_params_are_checked() {
    let p = PayParams::from_json(&params_json()).unwrap();
    assert_eq!(p.description, "Payment to carol@127.0.0.1:3000");
    assert_eq!((p.min_sendable_msat, p.max_sendable_msat, p.comment_allowed), (1000, 5000, 5));

    let mut v = params_json();
    v["tag"] = "withdrawRequest".into();
    assert!(PayParams::from_json(&v).unwrap_err().contains("not a pay request"));
    let mut v = params_json();
    v["minSendable"] = 6000.into();
    assert!(PayParams::from_json(&v).unwrap_err().contains("accepts no amount"));
    let mut v = params_json();
    v["metadata"] = r#"[["text/identifier","a@b"]]"#.into();
    assert!(PayParams::from_json(&v).unwrap_err().contains("no text/plain"));
    let mut v = params_json();
    v["metadata"] = r#"{"text/plain":"x"}"#.into();
    assert!(PayParams::from_json(&v).unwrap_err().contains("not a JSON array"));
    // Entries may carry non-string content after the type.
    let mut v = params_json();
    v["metadata"] = r#"[["text/plain","x"],["application/x-future",{"a":1},2]]"#.into();
    assert_eq!(PayParams::from_json(&v).unwrap().description, "x");
    let err = PayParams::from_json(&json!({ "status": "ERROR", "reason": "gone" }));
    assert_eq!(err.unwrap_err(), "the LNURL service refused: gone");
    // No commentAllowed: no comments.
    let mut v = params_json();
    v.as_object_mut().unwrap().remove("commentAllowed");
    assert_eq!(PayParams::from_json(&v).unwrap().comment_allowed, 0);
}

#[test]
fn amount_and_comment_limits() {
    let p = PayParams::from_json(&params_json()).unwrap();
    assert!(p.check_amount(1000).is_ok() && p.check_amount(5000).is_ok());
    let err = p.check_amount(5001).unwrap_err();
    assert!(err.contains("1000 to 5000 msat"), "{err}");
    assert!(p.check_amount(999).is_err());
    assert!(p.check_comment(None).is_ok());
    assert!(p.check_comment(Some("héllo")).is_ok(), "characters, not bytes");
    assert!(p.check_comment(Some("hello!")).unwrap_err().contains("at most 5"));
    let none = PayParams { comment_allowed: 0, ..p };
    assert_eq!(
        none.check_comment(Some("x")).unwrap_err(),
        "the recipient does not accept comments"
    );
}

#[test]
fn invoice_checks_catch_tampering() {
    let net = Network::Regtest;
    let good = invoice(Currency::Regtest, Some(2000), Ok(META));
    assert!(check_invoice(&good, 2000, META, net).is_ok());
    // Another amount than asked for, or none.
    let err = check_invoice(&good, 3000, META, net).unwrap_err();
    assert!(err.contains("2000 msat, not the 3000"), "{err}");
    let any = invoice(Currency::Regtest, None, Ok(META));
    assert!(check_invoice(&any, 2000, META, net).unwrap_err().contains("any amount"));
    // A description hash of other metadata, or a plain description.
    let other = META.replace("carol", "mallory");
    let err = check_invoice(&good, 2000, &other, net).unwrap_err();
    assert!(err.contains("description hash is not the metadata's"), "{err}");
    let plain = invoice(Currency::Regtest, Some(2000), Err("hi"));
    assert!(check_invoice(&plain, 2000, META, net)
        .unwrap_err()
        .contains("without a description hash"));
    // Another network.
    let main = invoice(Currency::Bitcoin, Some(2000), Ok(META));
    assert!(check_invoice(&main, 2000, META, net)
        .unwrap_err()
        .contains("this node runs on regtest"));
    assert!(check_invoice("lnbcrt1garbage", 2000, META, net).unwrap_err().contains("bad invoice"));
}

#[test]
fn lightning_addresses() {
    let a = LightningAddress::parse(" Carol@127.0.0.1:3000 ").unwrap();
    assert_eq!((a.user.as_str(), a.host.as_str()), ("carol", "127.0.0.1:3000"));
    assert_eq!(a.url(true), "http://127.0.0.1:3000/.well-known/lnurlp/carol");
    assert_eq!(a.url(false), "https://127.0.0.1:3000/.well-known/lnurlp/carol");
    let a = LightningAddress::parse("satoshi+tips@Bitcoin.org").unwrap();
    assert_eq!(a.to_string(), "satoshi+tips@bitcoin.org");
    assert_eq!(a.url(true), "https://bitcoin.org/.well-known/lnurlp/satoshi+tips");
    let a = LightningAddress::parse("bob@[::1]:8080").unwrap();
    assert_eq!(a.url(true), "http://[::1]:8080/.well-known/lnurlp/bob");
    for bad in [
        "carol",
        "@host",
        "ca rol@host",
        "carol@",
        "carol@host:x",
        "carol@host:0",
        "carol@ho/st",
        "a@b@c",
        "carol@[nope]",
    ] {
        assert!(LightningAddress::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn http_policy() {
    let strict = Http { allow_http: false };
    let lab = Http { allow_http: true };
    assert!(strict.check_url("https://example.com/.well-known/lnurlp/a").is_ok());
    assert!(strict.check_url("http://127.0.0.1:3000/x").unwrap_err().contains("needs https"));
    assert!(lab.check_url("http://127.0.0.1:3000/x").is_ok());
    assert!(lab.check_url("http://localhost/x").is_ok());
    assert!(lab.check_url("http://[::1]:1/x").is_ok());
    assert!(lab.check_url("http://example.com/x").is_err());
    assert!(lab.check_url("http://127.0.0.1.example.com/x").is_err());
    assert!(lab.check_url("ftp://127.0.0.1/x").is_err());
}

fn lnurl(url: &str) -> String {
    use bitcoin::bech32::{encode, Bech32, Hrp};
    encode::<Bech32>(Hrp::parse("lnurl").unwrap(), url.as_bytes()).unwrap().to_uppercase()
}

#[tokio::test]
async fn lnurl_strings_go_through_the_crate_and_our_policy() {
    let lab = Http { allow_http: true };
    // LUD-01's rule, applied by bitcoin-payment-instructions before any request.
    let err = resolve(lab, Network::Regtest, &lnurl("http://example.com/p")).await.unwrap_err();
    assert!(matches!(&err, PayError::InvalidParams(m) if m.contains("https")), "{err:?}");
    // A loopback LNURL reaches our resolver, whose error (nothing listens) is kept whole.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/.well-known/lnurlp/carol");
    for dest in [lnurl(&url), format!("lightning:{}", lnurl(&url).to_lowercase())] {
        let err = resolve(lab, Network::Regtest, &dest).await.unwrap_err();
        assert!(
            matches!(&err, PayError::Other(m) if m.starts_with(&format!("cannot fetch {url}"))),
            "{err:?}"
        );
    }
    // Without lnurl_allow_http (or off regtest) our own policy refuses plain http.
    let strict = Http { allow_http: false };
    let err = resolve(strict, Network::Regtest, &lnurl(&url)).await.unwrap_err();
    assert!(matches!(&err, PayError::InvalidParams(m) if m.contains("needs https")), "{err:?}");
    let err = resolve(strict, Network::Regtest, "carol@example.com:99999").await.unwrap_err();
    assert!(matches!(err, PayError::InvalidParams(_)));
    let err = resolve(strict, Network::Regtest, "bitcoin").await.unwrap_err();
    assert!(matches!(err, PayError::InvalidParams(_)), "{err:?}");
}

#[test]
fn hosted_metadata_is_stable() {
    assert_eq!(hosted_metadata("carol", "127.0.0.1:3000"), META);
}
