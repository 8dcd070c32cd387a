//! Every rule kind R1–R5 through the proxy, split shares, and no route.

use super::harness::*;

const RULES: &str = r#"
[[routes.rules]]
name = "by-header"
when = { header = "X-Gray", equals = "1" }
to = "v2"

[[routes.rules]]
name = "by-cookie"
when = { cookie = "beta", equals = "yes" }
to = "v2"

[[routes.rules]]
name = "by-query"
when = { query = "thirdPolicystatus", equals = "1" }
to = "v2"

[[routes.rules]]
name = "by-form"
when = { form = "thirdPolicystatus", equals = "1" }
to = "v2"

[[routes.rules]]
name = "by-json"
when = { json = "/user/tier", equals = "gold" }
to = "v2"

[[routes.rules]]
name = "by-ip"
when = { ip = "10.0.0.0/8" }
to = "v2"

[[routes.rules]]
name = "by-list"
when = { list = "gray" }
to = "v2"
"#;

async fn gateway(extra: &str) -> (Gw, graygate::demo::Backend, graygate::demo::Backend) {
    let (v1, v2) = backends().await;
    let policy = format!("[lists]\ngray = [\"alice\"]\n{}", two_groups(&v1, &v2, "", RULES));
    let gw = start(&config(extra, &policy)).await;
    (gw, v1, v2)
}

#[tokio::test]
async fn r1_a_header_rule_routes_to_its_group() {
    let (gw, _v1, _v2) = gateway("decision_headers = true").await;
    let r = gw.get("/", &[("X-Gray", "1")]).await;
    assert_eq!(r.backend(), "v2");
    assert_eq!(r.h("x-graygate-group"), "v2");
    assert_eq!(r.h("x-graygate-version"), "1");
    assert_eq!(gw.get("/", &[("X-Gray", "0")]).await.backend(), "v1");
    assert_eq!(gw.get("/", &[]).await.backend(), "v1");
}

#[tokio::test]
async fn r2_a_cookie_rule_routes_to_its_group() {
    let (gw, _v1, _v2) = gateway("").await;
    assert_eq!(gw.get("/", &[("Cookie", "a=1; beta=yes")]).await.backend(), "v2");
    assert_eq!(gw.get("/", &[("Cookie", "beta=no")]).await.backend(), "v1");
}

#[tokio::test]
async fn r3_a_query_parameter_rule_routes_to_its_group() {
    let (gw, _v1, _v2) = gateway("").await;
    assert_eq!(gw.get("/pay?x=1&thirdPolicystatus=1", &[]).await.backend(), "v2");
    assert_eq!(gw.get("/pay?thirdPolicystatus=2", &[]).await.backend(), "v1");
}

#[tokio::test]
async fn r3_a_form_body_rule_reads_the_body_and_forwards_it_intact() {
    let (gw, _v1, _v2) = gateway("").await;
    let form = "a=b&thirdPolicystatus=1";
    let ct = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = gw.send("POST", "/pay", &ct, TestBody::text(form)).await;
    assert_eq!(r.backend(), "v2");
    assert_eq!(r.h("x-body-bytes"), form.len().to_string());
    let fnv = graygate::demo::fnv1a(form.bytes(), graygate::demo::FNV_START);
    assert_eq!(r.h("x-body-fnv"), fnv.to_string());
    let r = gw
        .send("POST", "/pay", &ct, TestBody::text("thirdPolicystatus=2"))
        .await;
    assert_eq!(r.backend(), "v1");
}

#[tokio::test]
async fn r3_a_json_body_rule_routes_by_a_field() {
    let (gw, _v1, _v2) = gateway("").await;
    let ct = [("Content-Type", "application/json")];
    let r = gw
        .send("POST", "/", &ct, TestBody::text(r#"{"user":{"tier":"gold"}}"#))
        .await;
    assert_eq!(r.backend(), "v2");
    let r = gw
        .send("POST", "/", &ct, TestBody::text(r#"{"user":{"tier":"tin"}}"#))
        .await;
    assert_eq!(r.backend(), "v1");
}

#[tokio::test]
async fn r3_a_body_over_the_limit_counts_as_absent_and_still_streams_intact() {
    let (gw, _v1, _v2) = gateway("body_limit = 1024").await;
    // thirdPolicystatus=1 first, then padding past the limit.
    let mut form = String::from("thirdPolicystatus=1&pad=");
    form.push_str(&"x".repeat(5000));
    let ct = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = gw.send("POST", "/", &ct, TestBody::text(&form)).await;
    assert_eq!(r.backend(), "v1", "over the limit the field is absent");
    assert_eq!(r.h("x-body-bytes"), form.len().to_string());
    let fnv = graygate::demo::fnv1a(form.bytes(), graygate::demo::FNV_START);
    assert_eq!(r.h("x-body-fnv"), fnv.to_string());
    // The same without a declared length (chunked), read frame by frame.
    let n = 200_000;
    let r = gw
        .send("POST", "/", &ct, TestBody::Pattern { left: n, exact: false })
        .await;
    assert_eq!(r.backend(), "v1");
    assert_eq!(r.h("x-body-bytes"), n.to_string());
    assert_eq!(r.h("x-body-fnv"), pattern_fnv(n).to_string());
}

#[tokio::test]
async fn r4_an_ip_rule_sees_the_socket_peer_when_no_proxy_is_trusted() {
    let (gw, _v1, _v2) = gateway("").await;
    // 127.0.0.1 is not in 10.0.0.0/8, and an untrusted peer cannot claim to be.
    let r = gw
        .get("/", &[("X-Forwarded-For", "10.1.2.3"), ("X-Real-IP", "10.1.2.3")])
        .await;
    assert_eq!(r.backend(), "v1");
    assert_eq!(
        r.h("x-seen-x-forwarded-for"),
        "127.0.0.1",
        "an untrusted chain is replaced"
    );
    assert_eq!(r.h("x-seen-x-real-ip"), "127.0.0.1");
}

#[tokio::test]
async fn r4_an_ip_rule_sees_the_client_behind_a_trusted_proxy() {
    let (gw, _v1, _v2) = gateway("trusted_proxies = [\"127.0.0.0/8\"]").await;
    let r = gw.get("/", &[("X-Forwarded-For", "192.0.2.1, 10.1.2.3")]).await;
    assert_eq!(r.backend(), "v2", "rightmost untrusted entry is 10.1.2.3");
    assert_eq!(r.h("x-seen-x-real-ip"), "10.1.2.3");
    assert_eq!(r.h("x-seen-x-forwarded-for"), "192.0.2.1, 10.1.2.3, 127.0.0.1");
    let r = gw.get("/", &[("X-Real-IP", "10.9.9.9")]).await;
    assert_eq!(r.backend(), "v2");
    let r = gw.get("/", &[("X-Forwarded-For", "10.1.2.3, 192.0.2.1")]).await;
    assert_eq!(
        r.backend(),
        "v1",
        "the client wrote 10.1.2.3 itself; 192.0.2.1 is the client"
    );
}

#[tokio::test]
async fn r5_a_user_list_routes_its_users() {
    let (gw, _v1, _v2) = gateway("").await;
    assert_eq!(gw.get("/", &[("X-User-ID", "alice")]).await.backend(), "v2");
    assert_eq!(gw.get("/", &[("X-User-ID", "mallory")]).await.backend(), "v1");
}

#[tokio::test]
async fn r5_a_user_split_gives_its_share_within_tolerance_and_is_stable() {
    let (v1, v2) = backends().await;
    let rules = "[[routes.rules]]\nname = \"quarter\"\nsplit = { by = \"user\", weights = { v1 = 7500, v2 = 2500 } }\n";
    let gw = start(&config("", &two_groups(&v1, &v2, "", rules))).await;
    let users = 2000;
    let mut on_v2 = Vec::new();
    for u in 0..users {
        let id = format!("user-{u}");
        if gw.get("/", &[("X-User-ID", &id)]).await.backend() == "v2" {
            on_v2.push(id);
        }
    }
    let share = on_v2.len() as f64 / f64::from(users);
    assert!((0.22..=0.28).contains(&share), "v2 share {share} not within 25 % ± 3 %");
    for id in on_v2.iter().take(50) {
        assert_eq!(gw.get("/", &[("X-User-ID", id)]).await.backend(), "v2", "{id} moved");
    }
}

#[tokio::test]
async fn a_request_no_route_takes_gets_the_configured_status() {
    let (v1, v2) = backends().await;
    let policy = two_groups(&v1, &v2, "host = \"shop.example\"", "");
    let gw = start(&config("", &policy)).await;
    assert_eq!(gw.get("/", &[]).await.status, 404);
    assert_eq!(gw.get("/", &[("Host", "shop.example")]).await.backend(), "v1");
    let gw = start(&config("no_route_status = 421", &policy)).await;
    assert_eq!(gw.get("/", &[]).await.status, 421);
}
