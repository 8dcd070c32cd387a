//! Every subject and every operator, decided through a real compiled policy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{get, matches};
use graygate_policy::RequestAttrs;

fn case(when: &str, req: &RequestAttrs, want: bool) {
    assert_eq!(matches(when, req), want, "when = {when}, request {req:?}");
}

#[test]
fn header_rules_route_by_header_value_case_insensitively_by_name() {
    let req = get("/").header("X-Gray", "1");
    case(r#"{ header = "x-gray", equals = "1" }"#, &req, true);
    case(r#"{ header = "X-GRAY", equals = 1 }"#, &req, true);
    case(r#"{ header = "X-Gray", equals = "0" }"#, &req, false);
    case(r#"{ header = "X-Other", exists = true }"#, &req, false);
    case(r#"{ header = "X-Other", exists = false }"#, &req, true);
}

#[test]
fn cookie_query_form_and_json_subjects_read_their_part() {
    let req = get("/buy?thirdPolicystatus=1&q=a%20b")
        .cookie("uid", "42")
        .cookie("ab", "x");
    case(r#"{ cookie = "ab", equals = "x" }"#, &req, true);
    case(r#"{ cookie = "a", exists = true }"#, &req, false);
    case(r#"{ query = "thirdPolicystatus", equals = "1" }"#, &req, true);
    case(r#"{ query = "q", equals = "a b" }"#, &req, true);

    let form = get("/")
        .method("POST")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(b"status=2&x=1");
    case(r#"{ form = "status", equals = "2" }"#, &form, true);
    case(r#"{ form = "status", equals = "1" }"#, &form, false);

    let json = get("/")
        .method("POST")
        .header("Content-Type", "application/json")
        .body(br#"{"user":{"tier":"gold","n":3}}"#);
    case(r#"{ json = "/user/tier", equals = "gold" }"#, &json, true);
    case(r#"{ json = "/user/n", ge = 3 }"#, &json, true);
    case(r#"{ json = "/user/missing", exists = false }"#, &json, true);
    case(r#"{ form = "status", exists = true }"#, &json, false);
}

#[test]
fn built_in_attributes_host_path_method_user() {
    let req = get("http://shop.example.com/api/v2/items")
        .method("DELETE")
        .header("X-User-ID", "1001");
    case(r#"{ attr = "host", suffix = ".example.com" }"#, &req, true);
    case(r#"{ attr = "path", prefix = "/api/v2" }"#, &req, true);
    case(r#"{ attr = "method", in = ["PUT", "DELETE"] }"#, &req, true);
    case(r#"{ attr = "user", equals = "1001" }"#, &req, true);
    case(
        r#"{ attr = "user", equals = "1001" }"#,
        &get("/").cookie("uid", "1001"),
        true,
    );
}

#[test]
fn string_operators() {
    let req = get("/").header("UA", "Mozilla/5.0 GrayApp/3.1");
    case(r#"{ header = "ua", not_equals = "curl" }"#, &req, true);
    case(
        r#"{ header = "ua", not_equals = "Mozilla/5.0 GrayApp/3.1" }"#,
        &req,
        false,
    );
    case(r#"{ header = "absent", not_equals = "x" }"#, &req, false);
    case(
        r#"{ header = "ua", in = ["a", "Mozilla/5.0 GrayApp/3.1"] }"#,
        &req,
        true,
    );
    case(r#"{ header = "ua", prefix = "Mozilla" }"#, &req, true);
    case(r#"{ header = "ua", suffix = "/3.1" }"#, &req, true);
    case(r#"{ header = "ua", contains = "GrayApp" }"#, &req, true);
    case(r#"{ header = "ua", contains = "Chrome" }"#, &req, false);
    case(r#"{ header = "ua", regex = 'GrayApp/[3-9]\.' }"#, &req, true);
    case(r#"{ header = "ua", regex = '^GrayApp' }"#, &req, false);
}

#[test]
fn numeric_operators_compare_numbers_not_text() {
    let req = get("/").header("X-Score", " 10 ");
    case(r#"{ header = "x-score", gt = 9 }"#, &req, true);
    case(r#"{ header = "x-score", gt = 10 }"#, &req, false);
    case(r#"{ header = "x-score", ge = 10 }"#, &req, true);
    case(r#"{ header = "x-score", lt = 9.5 }"#, &req, false);
    case(r#"{ header = "x-score", le = 10.0 }"#, &req, true);
    case(
        r#"{ header = "x-score", lt = 100 }"#,
        &get("/").header("X-Score", "abc"),
        false,
    );
}

#[test]
fn semantic_version_operators_read_app_versions() {
    let v = |s: &str| get("/").header("App-Version", s);
    case(
        r#"{ header = "app-version", version_ge = "5.2.0" }"#,
        &v("5.10.1"),
        true,
    );
    case(r#"{ header = "app-version", version_ge = "5.2.0" }"#, &v("5.2"), true);
    case(
        r#"{ header = "app-version", version_ge = "5.2.0" }"#,
        &v("5.2.0-beta.1"),
        false,
    );
    case(
        r#"{ header = "app-version", version_gt = "5.2.0" }"#,
        &v("5.2.0"),
        false,
    );
    case(r#"{ header = "app-version", version_lt = "5.2.0" }"#, &v("4.9"), true);
    case(
        r#"{ header = "app-version", version_le = "5.2.0" }"#,
        &v("v5.2.0"),
        true,
    );
    case(r#"{ header = "app-version", version_eq = "5.2" }"#, &v("5.2.0"), true);
    case(
        r#"{ header = "app-version", version_ge = "1.0" }"#,
        &v("unknown"),
        false,
    );
}

#[test]
fn client_ip_in_cidr_ranges() {
    let ip = |s: &str| get("/").ip(s.parse().unwrap());
    case(r#"{ ip = ["10.0.0.0/8", "2001:db8::/32"] }"#, &ip("10.3.4.5"), true);
    case(r#"{ ip = "10.0.0.0/8" }"#, &ip("11.3.4.5"), false);
    case(r#"{ ip = "2001:db8::/32" }"#, &ip("2001:db8::7"), true);
    case(r#"{ attr = "ip", cidr = "192.168.0.0/16" }"#, &ip("192.168.7.7"), true);
    case(r#"{ attr = "ip", exists = true }"#, &get("/"), false);
    case(
        r#"{ header = "x-client", cidr = "10.0.0.0/8" }"#,
        &get("/").header("X-Client", "10.1.1.1"),
        true,
    );
}

#[test]
fn user_lists_and_in_list() {
    case(r#"{ list = "beta" }"#, &get("/").header("X-User-ID", "1002"), true);
    case(r#"{ list = "beta" }"#, &get("/").header("X-User-ID", "1003"), false);
    case(r#"{ list = "beta" }"#, &get("/"), false);
    case(
        r#"{ header = "x-device", in_list = "devices" }"#,
        &get("/").header("X-Device", "dev-a"),
        true,
    );
}

#[test]
fn per_user_key_lookups_use_the_answer_and_fail_closed() {
    let when = r#"{ lookup = "gray:{user}", equals = "1" }"#;
    let user = || get("/").header("X-User-ID", "42");
    case(when, &user().lookup_answer("gray:42", Some("1")), true);
    case(when, &user().lookup_answer("gray:42", Some("0")), false);
    case(when, &user().lookup_answer("gray:42", None), false);
    case(when, &user(), false);
    case(
        r#"{ lookup = "gray:{user}", exists = false }"#,
        &user().lookup_answer("gray:42", None),
        true,
    );
    case(r#"{ lookup = "gray:{user}", exists = false }"#, &user(), false);
    case(r#"{ lookup = "gray:{user}", exists = false }"#, &get("/"), true);
}

#[test]
fn combinators_all_any_not() {
    let req = get("/").header("A", "1").header("B", "2");
    case(
        r#"{ all = [{ header = "a", equals = "1" }, { header = "b", equals = "2" }] }"#,
        &req,
        true,
    );
    case(
        r#"{ all = [{ header = "a", equals = "1" }, { header = "b", equals = "3" }] }"#,
        &req,
        false,
    );
    case(
        r#"{ any = [{ header = "a", equals = "9" }, { header = "b", equals = "2" }] }"#,
        &req,
        true,
    );
    case(
        r#"{ any = [{ header = "a", equals = "9" }, { header = "b", equals = "9" }] }"#,
        &req,
        false,
    );
    case(r#"{ not = { header = "a", equals = "1" } }"#, &req, false);
    case(r#"{ not = { any = [{ header = "c", exists = true }] } }"#, &req, true);
}
