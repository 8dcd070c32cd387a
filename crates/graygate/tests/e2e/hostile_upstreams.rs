//! Issue 7, hostile or broken upstreams: each misbehaviour gets its
//! documented status (`docs/configuration.md`, Errors), shows in the
//! metrics, and passive health treats it as documented (`max_fails`: connect
//! errors, resets and timeouts before the response head count; an answered
//! 5xx does not). `errors.rs` has the bare statuses; here each case runs in
//! a group of a bad and a good server, `max_fails = 1`.

use super::harness::*;
use super::prom::{Exposition, parse};
use super::recorder::{Script, scripted};
use graygate::demo::Backend;
use graygate_proxy::GatewayMetrics;
use http_body_util::BodyExt;
use std::net::SocketAddr;

/// A gateway over `[bad, good]` (round robin starts with `bad`).
async fn bad_and_good(bad: SocketAddr) -> (Gw, Backend) {
    let good = Backend::start("good").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{bad}\" }}, {{ addr = \"{}\" }}]\nmax_fails = 1\nfail_timeout_secs = 60\nread_timeout_ms = 300\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n",
        good.addr()
    );
    (start(&config("", &policy)).await, good)
}

fn metrics(gw: &Gw) -> Exposition {
    parse(&GatewayMetrics::of(&gw.gateway).unwrap().prometheus())
}

/// The first request goes to `bad` and gets `status`; then `bad` is out and
/// twenty requests all reach the good server. Returns the metrics.
async fn ejected_after_one_failure(what: &str, bad: SocketAddr, status: u16) -> Exposition {
    let (gw, _good) = bad_and_good(bad).await;
    let r = gw.get("/", &[]).await;
    assert_eq!(r.status, status, "{what}: {}", r.body);
    for i in 0..20 {
        let r = gw.get("/", &[]).await;
        assert_eq!((r.status.as_u16(), r.backend()), (200, "good"), "{what}: request {i}");
    }
    let m = metrics(&gw);
    let bad = bad.to_string();
    let server = [("group", "g"), ("server", bad.as_str())];
    assert_eq!(m.value("graygate_upstream_up", &server), 0.0, "{what}");
    assert_eq!(m.value("graygate_upstream_ejections_total", &server), 1.0, "{what}");
    let web = |class| [("route", "web"), ("group", "g"), ("class", class)];
    assert_eq!(
        m.value("graygate_requests_total", &web("2xx")),
        20.0 + f64::from(status == 200)
    );
    m
}

#[tokio::test]
async fn a_refusing_server_is_retried_elsewhere_and_ejected() {
    let m = ejected_after_one_failure("refusing", dead_addr(), 200).await;
    assert_eq!(m.value("graygate_retries_total", &[("route", "web")]), 1.0);
}

/// Rule: a server that resets before answering gets a `GET` sent again to
/// another server (nginx's `proxy_next_upstream error`); a `POST` is not
/// safe to repeat and is answered 502.
#[tokio::test]
async fn a_resetting_server_is_skipped_for_a_get_and_a_bad_gateway_for_a_post() {
    let m = ejected_after_one_failure("resetting", scripted(Script::Reset).await, 200).await;
    assert_eq!(m.value("graygate_retries_total", &[("route", "web")]), 1.0);
    assert_eq!(m.value("graygate_requests_total", &[("class", "5xx")]), 0.0);

    let (gw, _good) = bad_and_good(scripted(Script::Reset).await).await;
    let post = http::Request::post(gw.url("/"))
        .body(TestBody::text("order=1"))
        .unwrap();
    let resp = gw.client.request(post).await.unwrap();
    assert_eq!(resp.status(), 502, "a POST is never repeated");
    let m = metrics(&gw);
    assert_eq!(m.value("graygate_retries_total", &[("route", "web")]), 0.0);
    assert_eq!(m.value("graygate_requests_total", &[("class", "5xx")]), 1.0);
}

#[tokio::test]
async fn a_server_answering_garbage_is_a_bad_gateway_and_ejected() {
    let bad = scripted(Script::Answer(b"HELLO\r\n\r\n")).await;
    let m = ejected_after_one_failure("garbage", bad, 502).await;
    assert_eq!(m.value("graygate_requests_total", &[("class", "5xx")]), 1.0);
}

#[tokio::test]
async fn a_server_silent_past_the_read_timeout_is_a_gateway_timeout_and_ejected() {
    let bad = scripted(Script::AnswerAndHold(b"")).await;
    let m = ejected_after_one_failure("silent", bad, 504).await;
    assert_eq!(m.value("graygate_requests_total", &[("class", "5xx")]), 1.0);
}

/// Rule: a body cut short by the upstream (1000 bytes announced, 10 sent)
/// reaches the client as an aborted response, never as a complete one, and
/// is counted and logged; the gateway keeps serving.
#[tokio::test]
async fn a_server_closing_mid_body_gives_an_aborted_response() {
    let bad = scripted(Script::Answer(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
    ))
    .await;
    let (gw, _good) = bad_and_good(bad).await;
    let resp = gw
        .client
        .request(http::Request::get(gw.url("/")).body(TestBody::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the head had arrived");
    assert!(resp.into_body().collect().await.is_err(), "the client sees the cut");
    let r = gw.get("/", &[]).await;
    assert_eq!((r.status.as_u16(), r.backend()), (200, "good"));
    eventually("the cut is counted", || {
        let g = &gw;
        async move { metrics(g).value("graygate_responses_cut_off_total", &[]) == 1.0 }
    })
    .await;
}

/// Rule: an upstream's 5xx is its answer: passed through as it is, counted
/// as a 5xx of the group, and not a passive-health failure (like nginx
/// without `proxy_next_upstream http_500`).
#[tokio::test]
async fn an_upstream_5xx_is_passed_through_and_does_not_eject() {
    let a = Backend::start("a").await.unwrap();
    let policy = format!(
        "[groups.g]\nservers = [{{ addr = \"{}\" }}]\nmax_fails = 1\nfail_timeout_secs = 60\n[[routes]]\nname = \"web\"\ndefault = \"g\"\n",
        a.addr()
    );
    let gw = start(&config("", &policy)).await;
    for code in [500, 503, 502] {
        assert_eq!(gw.get(&format!("/_demo/status/{code}"), &[]).await.status, code);
    }
    assert_eq!(gw.get("/", &[]).await.status, 200, "still in the group");
    let m = metrics(&gw);
    let server = a.addr().to_string();
    let server = [("group", "g"), ("server", server.as_str())];
    assert_eq!(m.value("graygate_upstream_up", &server), 1.0);
    assert_eq!(m.value("graygate_upstream_ejections_total", &server), 0.0);
    let web = |class| [("route", "web"), ("group", "g"), ("class", class)];
    assert_eq!(m.value("graygate_requests_total", &web("5xx")), 3.0);
    assert_eq!(m.value("graygate_requests_total", &web("2xx")), 1.0);
}
