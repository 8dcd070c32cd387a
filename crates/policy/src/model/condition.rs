//! The condition of a rule: one subject (what to read from the request) and one
//! operator (how to test it), or a combination of conditions.
//!
//! It is a flat table so that it reads naturally in TOML —
//! `{ header = "X-Gray", equals = "1" }` — and so that an error names the
//! exact field: `routes[0].rules[1].when.regex`. Which combinations are legal is
//! checked by the compiler, not by serde, so that every mistake is reported.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// A condition over request attributes. See `docs/policy.md` for the table of
/// subjects and operators.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Every condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all: Option<Vec<Condition>>,
    /// At least one condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Vec<Condition>>,
    /// The condition does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<Condition>>,

    /// Subject: a request header, by name (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Subject: a cookie, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie: Option<String>,
    /// Subject: a query parameter, by name (percent-decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Subject: a field of a form body (`application/x-www-form-urlencoded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Subject: a field of a JSON body, by JSON pointer (`/user/tier`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
    /// Subject: a built-in attribute: host, path, method, ip or user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<Attr>,
    /// Subject: the value stored under a per-user key such as `gray:{user}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,

    /// Shorthand: the client IP is in one of these CIDR ranges.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "one_or_many")]
    pub ip: Option<Vec<String>>,
    /// Shorthand: the user id is in this named list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,

    /// Operator: the subject is present (`true`) or absent (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// Operator: equal to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Text>,
    /// Operator: present and not equal to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_equals: Option<Text>,
    /// Operator: equal to one of these values.
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    pub in_set: Option<Vec<Text>>,
    /// Operator: a member of this named list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_list: Option<String>,
    /// Operator: starts with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Operator: ends with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Operator: contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Operator: matches this regular expression (unanchored; use `^…$`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Operator: as a number, greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    /// Operator: as a number, greater than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ge: Option<f64>,
    /// Operator: as a number, less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    /// Operator: as a number, less than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub le: Option<f64>,
    /// Operator: as a version (`5.2.0`), greater than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_gt: Option<String>,
    /// Operator: as a version, greater than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_ge: Option<String>,
    /// Operator: as a version, less than.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_lt: Option<String>,
    /// Operator: as a version, less than or equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_le: Option<String>,
    /// Operator: as a version, equal (`5.2` equals `5.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_eq: Option<String>,
    /// Operator: as an IP address, inside one of these CIDR ranges.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "one_or_many")]
    pub cidr: Option<Vec<String>>,
}

/// A built-in request attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attr {
    /// The Host (without port), lower-case.
    Host,
    /// The path, without the query string.
    Path,
    /// The method, e.g. `POST`.
    Method,
    /// The client IP (after trusted-proxy resolution).
    Ip,
    /// The user id (see `user_id`).
    User,
}

/// A value to compare with. TOML and JSON numbers and booleans are accepted
/// and compared as their text (`equals = 1` is `equals = "1"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Accepts `"10.0.0.0/8"` as well as `["10.0.0.0/8", …]`.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(Some(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    }))
}
