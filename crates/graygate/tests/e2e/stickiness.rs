//! Stickiness (R12) and gray tags (R16) through the proxy.

use super::harness::*;

fn split_policy(v1: &graygate::demo::Backend, v2: &graygate::demo::Backend, v2_share: u32) -> String {
    let rules = format!(
        "[[routes.rules]]\nname = \"split\"\nsplit = {{ by = \"user\", weights = {{ v1 = {}, v2 = {v2_share} }} }}\n",
        10_000 - v2_share
    );
    two_groups(v1, v2, "sticky = {}", &rules)
}

/// The `name=value` part of a Set-Cookie header.
fn cookie_of(r: &Resp) -> String {
    r.h("set-cookie").split(';').next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn pinned_clients_keep_their_group_when_the_percentage_changes() {
    let (v1, v2) = backends().await;
    let gw = start(&config("", &split_policy(&v1, &v2, 1000))).await;
    let mut clients = Vec::new();
    for u in 0..300 {
        let id = format!("u{u}");
        let r = gw.get("/", &[("X-User-ID", &id)]).await;
        let cookie = cookie_of(&r);
        assert!(
            cookie.starts_with("gg_web="),
            "sticky route sets its cookie: {:?}",
            r.headers
        );
        clients.push((id, r.backend().to_owned(), cookie));
    }
    let first_v2 = clients.iter().filter(|c| c.1 == "v2").count();
    assert!(first_v2 > 0 && first_v2 < 100, "{first_v2}");

    // Raise the canary to 90 %, and bring a brand-new user population.
    gw.gateway.reload(&config("", &split_policy(&v1, &v2, 9000))).unwrap();
    for (id, group, cookie) in &clients {
        let r = gw.get("/", &[("X-User-ID", id), ("Cookie", cookie)]).await;
        assert_eq!(r.backend(), group, "{id} was pinned to {group}");
        assert!(r.h("set-cookie").is_empty(), "a valid pin is not re-set");
    }
    let mut n = 0;
    for u in 0..100 {
        if gw.get("/", &[("X-User-ID", &format!("new{u}"))]).await.backend() == "v2" {
            n += 1;
        }
    }
    assert!(n > 70, "new users follow the new split: {n} of 100 on v2");
}

#[tokio::test]
async fn a_forged_or_foreign_cookie_is_ignored() {
    let (v1, v2) = backends().await;
    let gw = start(&config("", &split_policy(&v1, &v2, 0))).await;
    let forged = "gg_web=v2.00000000000000000000000000000000";
    let r = gw.get("/", &[("X-User-ID", "x"), ("Cookie", forged)]).await;
    assert_eq!(r.backend(), "v1");
    assert!(cookie_of(&r).starts_with("gg_web=v1."), "the client is re-pinned");
    let plain = "gg_web=v2";
    assert_eq!(gw.get("/", &[("Cookie", plain)]).await.backend(), "v1");
}

#[tokio::test]
async fn a_pin_to_a_group_the_route_no_longer_uses_is_dropped() {
    let (v1, v2) = backends().await;
    let gw = start(&config("", &split_policy(&v1, &v2, 10_000))).await;
    let r = gw.get("/", &[("X-User-ID", "u")]).await;
    assert_eq!(r.backend(), "v2");
    let cookie = cookie_of(&r);
    // v2 is withdrawn: the route no longer sends traffic there.
    gw.gateway
        .reload(&config("", &two_groups(&v1, &v2, "sticky = {}", "")))
        .unwrap();
    let r = gw.get("/", &[("X-User-ID", "u"), ("Cookie", &cookie)]).await;
    assert_eq!(r.backend(), "v1");
}

#[tokio::test]
async fn the_upstream_request_carries_the_gray_tag_of_its_group() {
    let (v1, v2) = backends().await;
    let rules = "[[routes.rules]]\nwhen = { header = \"X-Gray\", equals = \"1\" }\nto = \"v2\"\n";
    let gw = start(&config("", &two_groups(&v1, &v2, "", rules))).await;
    assert_eq!(gw.get("/", &[]).await.h("x-seen-x-gray-tag"), "v1");
    assert_eq!(gw.get("/", &[("X-Gray", "1")]).await.h("x-seen-x-gray-tag"), "v2");
}

#[tokio::test]
async fn an_incoming_tag_is_followed_only_from_a_trusted_proxy() {
    let (v1, v2) = backends().await;
    let policy = two_groups(
        &v1,
        &v2,
        "",
        "[[routes.rules]]\nwhen = { header = \"X-Gray\", equals = \"1\" }\nto = \"v2\"\n",
    );
    let untrusted = start(&config("", &policy)).await;
    let r = untrusted.get("/", &[("X-Gray-Tag", "v2")]).await;
    assert_eq!(r.backend(), "v1", "a client cannot pick its version with a tag");
    assert_eq!(r.h("x-seen-x-gray-tag"), "v1", "and its tag is overwritten");
    let trusted = start(&config("trusted_proxies = [\"127.0.0.1\"]", &policy)).await;
    let r = trusted.get("/", &[("X-Gray-Tag", "v2")]).await;
    assert_eq!(r.backend(), "v2", "an edge graygate's tag is followed");
    let r = trusted.get("/", &[("X-Gray-Tag", "nonsense")]).await;
    assert_eq!(r.backend(), "v1", "a tag naming no group of the route is ignored");
}

#[tokio::test]
async fn the_pin_is_secure_behind_a_trusted_tls_proxy() {
    let (v1, v2) = backends().await;
    let policy = split_policy(&v1, &v2, 0);
    let gw = start(&config("trusted_proxies = [\"127.0.0.1\"]", &policy)).await;
    let r = gw.get("/", &[("X-Forwarded-Proto", "https")]).await;
    assert!(r.h("set-cookie").ends_with("; Secure"), "{}", r.h("set-cookie"));
    assert_eq!(r.h("x-seen-x-forwarded-proto"), "https");
    let r = gw.get("/", &[]).await;
    assert!(!r.h("set-cookie").contains("Secure"), "{}", r.h("set-cookie"));
}
