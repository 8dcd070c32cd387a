use super::*;

#[test]
fn cookies_are_found_by_exact_name_and_unquoted() {
    let h = "a=1; uid=42;theme=\"dark\" ; uidx=9";
    assert_eq!(cookie_value(h, "uid"), Some("42"));
    assert_eq!(cookie_value(h, "theme"), Some("dark"));
    assert_eq!(cookie_value(h, "ui"), None);
    assert_eq!(cookie_value("broken; ;=;==", "x"), None);
}

#[test]
fn query_values_are_percent_decoded_and_borrowed_when_plain() {
    let q = b"a=1&name=J%C3%BCrgen+M&flag&empty=&a=2";
    assert!(
        matches!(form_value(q, "a"), Some(Cow::Borrowed("1"))),
        "first value wins, no copy"
    );
    assert_eq!(form_value(q, "name").as_deref(), Some("Jürgen M"));
    assert_eq!(form_value(q, "flag").as_deref(), Some(""));
    assert_eq!(form_value(q, "empty").as_deref(), Some(""));
    assert_eq!(form_value(q, "missing"), None);
    assert_eq!(
        form_value(b"n%61me=x", "name").as_deref(),
        Some("x"),
        "names decode too"
    );
}

#[test]
fn malformed_escapes_never_panic() {
    assert_eq!(percent_decode(b"100%").as_deref(), Some("100%"));
    assert_eq!(percent_decode(b"%zz%4").as_deref(), Some("%zz%4"));
    assert_eq!(percent_decode(b"%ff"), None, "invalid UTF-8 is absent, not garbage");
}

#[test]
fn json_fields_by_pointer() {
    let v: serde_json::Value = serde_json::json!({"user": {"tier": "gold", "age": 31, "beta": true, "x": null}});
    assert_eq!(json_value(&v, "/user/tier").as_deref(), Some("gold"));
    assert_eq!(json_value(&v, "/user/age").as_deref(), Some("31"));
    assert_eq!(json_value(&v, "/user/beta").as_deref(), Some("true"));
    assert_eq!(json_value(&v, "/user/x"), None);
    assert_eq!(json_value(&v, "/user"), None, "objects are not values");
}

#[test]
fn bodies_are_read_by_content_type() {
    assert!(matches!(
        Body::parse(Some("application/x-www-form-urlencoded; charset=utf-8"), b"a=1"),
        Body::Form(_)
    ));
    assert!(matches!(
        Body::parse(Some("application/vnd.api+json"), b"{\"a\":1}"),
        Body::Json(_)
    ));
    assert_eq!(Body::parse(Some("application/json"), b"{not json"), Body::None);
    assert_eq!(Body::parse(Some("text/plain"), b"a=1"), Body::None);
    assert_eq!(Body::parse(None, b"a=1"), Body::None);
}

#[test]
fn urls_split_into_host_path_and_query() {
    let r = RequestAttrs::get("http://API.Example.com:8080/v1/items?x=1");
    assert_eq!(r.host.as_deref(), Some("api.example.com"));
    assert_eq!(r.path, "/v1/items");
    assert_eq!(r.query.as_deref(), Some("x=1"));
    let r = RequestAttrs::get("/only/path");
    assert_eq!((r.host, r.path.as_str()), (None, "/only/path"));
    assert_eq!(host_without_port("[::1]:8080"), "[::1]");
    for (authority, host) in [
        ("example.com", "example.com"),
        ("example.com:80", "example.com"),
        ("user:pw@example.com:80", "example.com"),
        ("a@b@example.com", "example.com"),
        ("[::1]", "[::1]"),
        ("[::1", "[::1"),
        ("", ""),
        (":80", ""),
    ] {
        assert_eq!(host_without_port(authority), host, "{authority}");
    }
}

#[test]
fn encoded_names_of_the_same_length_still_match() {
    assert_eq!(
        form_value(b"a+b=1", "a b").as_deref(),
        Some("1"),
        "`+` keeps the length"
    );
    assert_eq!(form_value(b"a%20b=2", "a b").as_deref(), Some("2"));
    assert_eq!(form_value(b"ab=3", "a b"), None);
}

/// Found by the `attrs` fuzz target: since the raw-equality shortcut, a key
/// `a+b` matched the name `a+b` although it decodes to `a b`.
#[test]
fn a_key_matches_by_its_decoded_name_only() {
    assert_eq!(form_value(b"a+b=1", "a+b"), None, "`a+b` is the name `a b`");
    assert_eq!(form_value(b"a+b=1", "a b").as_deref(), Some("1"));
    assert_eq!(form_value(b"a%2Bb=2", "a+b").as_deref(), Some("2"));
    assert_eq!(form_value(b"a%41=3", "a%41"), None, "`a%41` is the name `aA`");
    assert_eq!(
        form_value(b"100%=4", "100%").as_deref(),
        Some("4"),
        "a lone `%` decodes to itself"
    );
}
