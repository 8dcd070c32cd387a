//! Issue 7, spoofing: what a client outside `trusted_proxies` may claim and
//! what it is told. `routing.rs` and `stickiness.rs` cover the single-header
//! cases (`X-Forwarded-For` with `X-Real-IP`, the gray tag, a random cookie);
//! here: `X-Real-IP` alone, a chain split over several lines, a cookie with a
//! genuine MAC tampered with or taken from elsewhere, and everything at once
//! — each with its positive control, so that the test can fail.

use super::harness::*;
use graygate_proxy::StickyKey;

const RULES: &str = "[[routes.rules]]\nname = \"office\"\nwhen = { ip = \"10.0.0.0/8\" }\nto = \"v2\"\n\n[[routes.rules]]\nname = \"testers\"\nwhen = { header = \"X-Gray\", equals = \"1\" }\nto = \"v2\"\n";

async fn gateway(v1: &graygate::demo::Backend, v2: &graygate::demo::Backend, extra: &str) -> Gw {
    start(&config(extra, &two_groups(v1, v2, "sticky = {}", RULES))).await
}

const TRUSTED: &str = "trusted_proxies = [\"127.0.0.1\"]";

/// Rule: `X-Real-IP` alone from an untrusted client neither matches an `ip`
/// rule nor reaches the upstream; from a trusted proxy it does.
#[tokio::test]
async fn x_real_ip_alone_is_believed_only_from_a_trusted_proxy() {
    let (v1, v2) = backends().await;
    let h = [("X-Real-IP", "10.1.2.3")];
    let untrusted = gateway(&v1, &v2, "").await;
    let r = untrusted.get("/", &h).await;
    assert_eq!(r.backend(), "v1");
    assert_eq!(r.h("x-seen-x-real-ip"), "127.0.0.1", "replaced by the peer");
    let trusted = gateway(&v1, &v2, TRUSTED).await;
    let r = trusted.get("/", &h).await;
    assert_eq!(r.backend(), "v2", "control: a trusted proxy's X-Real-IP is believed");
    assert_eq!(r.h("x-seen-x-real-ip"), "10.1.2.3");
}

/// Rule: an untrusted chain sent as several `X-Forwarded-For` lines is
/// replaced as a whole; a trusted one is extended with the peer.
#[tokio::test]
async fn a_forwarded_for_chain_over_several_lines_is_replaced_unless_trusted() {
    let (v1, v2) = backends().await;
    let h = [("X-Forwarded-For", "192.0.2.1"), ("X-Forwarded-For", "10.1.2.3")];
    let untrusted = gateway(&v1, &v2, "").await;
    let r = untrusted.get("/", &h).await;
    assert_eq!(r.backend(), "v1");
    assert_eq!(r.h("x-seen-x-forwarded-for"), "127.0.0.1");
    let trusted = gateway(&v1, &v2, TRUSTED).await;
    let r = trusted.get("/", &h).await;
    assert_eq!(r.backend(), "v2", "control: the rightmost untrusted entry is 10.1.2.3");
    assert_eq!(r.h("x-seen-x-forwarded-for"), "192.0.2.1, 10.1.2.3, 127.0.0.1");
}

/// Rule: only a cookie signed by this gateway's secret, for this route and
/// the group it names, pins; a genuine MAC moved to another group, a pin of
/// another route, or one signed with another secret changes nothing.
#[tokio::test]
async fn a_tampered_or_borrowed_stickiness_cookie_changes_nothing() {
    let (v1, v2) = backends().await;
    let gw = gateway(&v1, &v2, "").await;
    let key = StickyKey::new(b"e2e-secret-0123456789");
    let genuine = key.sign("web", "v2");
    let r = gw.get("/", &[("Cookie", &format!("gg_web={genuine}"))]).await;
    assert_eq!(r.backend(), "v2", "control: a genuine pin is honoured");

    let v1_mac = key.sign("web", "v1");
    let mac = v1_mac.rsplit_once('.').unwrap().1;
    let forged = [
        ("a v1 pin relabelled v2", format!("v2.{mac}")),
        ("a pin of another route", key.sign("api", "v2")),
        (
            "a pin signed with another secret",
            StickyKey::new(b"another-secret-0123456789").sign("web", "v2"),
        ),
        ("an upper-cased MAC", genuine.to_ascii_uppercase()),
        ("a truncated MAC", genuine[..genuine.len() - 2].to_owned()),
    ];
    for (what, value) in &forged {
        let r = gw.get("/", &[("Cookie", &format!("gg_web={value}"))]).await;
        assert_eq!(r.backend(), "v1", "{what}");
        assert!(
            r.h("set-cookie").starts_with(&format!("gg_web={v1_mac};")),
            "{what}: re-pinned to v1: {}",
            r.h("set-cookie")
        );
    }
}

/// Rule: an untrusted client claiming an address, a tag, HTTPS and a forged
/// pin at once is routed as itself, and the upstream sees the gateway's own
/// forwarding headers; the same request from a trusted proxy is believed.
#[tokio::test]
async fn every_spoofed_header_at_once_changes_nothing_from_an_untrusted_client() {
    let (v1, v2) = backends().await;
    let h = [
        ("X-Forwarded-For", "10.1.2.3"),
        ("X-Real-IP", "10.1.2.3"),
        ("X-Forwarded-Proto", "https"),
        ("X-Gray-Tag", "v2"),
        ("Cookie", "gg_web=v2.00000000000000000000000000000000"),
    ];
    let untrusted = gateway(&v1, &v2, "").await;
    let r = untrusted.get("/", &h).await;
    assert_eq!(r.backend(), "v1");
    assert_eq!(r.h("x-seen-x-forwarded-for"), "127.0.0.1");
    assert_eq!(r.h("x-seen-x-real-ip"), "127.0.0.1");
    assert_eq!(r.h("x-seen-x-forwarded-proto"), "http");
    assert_eq!(r.h("x-seen-x-gray-tag"), "v1");
    assert!(!r.h("set-cookie").contains("Secure"), "{}", r.h("set-cookie"));

    let trusted = gateway(&v1, &v2, TRUSTED).await;
    let r = trusted.get("/", &h).await;
    assert_eq!(r.backend(), "v2", "control: a trusted proxy is believed");
    assert_eq!(r.h("x-seen-x-real-ip"), "10.1.2.3");
    assert_eq!(r.h("x-seen-x-forwarded-proto"), "https");
}
