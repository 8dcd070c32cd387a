//! A strict reader of the OpenMetrics text that `/metrics` serves: every
//! sample must belong to a family declared before it, histograms must be
//! cumulative and end in `+Inf`, and the text must end with `# EOF`.

use std::collections::{BTreeMap, BTreeSet};

/// One sample line.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    /// Family name → type.
    pub families: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` whose labels include `labels`; panics
    /// when none or several match.
    pub(crate) fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.find(name, labels).collect();
        assert_eq!(found.len(), 1, "{name}{labels:?}: {} samples match", found.len());
        found[0].value
    }

    /// The value, or 0 when no sample matches.
    pub(crate) fn value_or_zero(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.find(name, labels).map(|s| s.value).sum()
    }

    pub(crate) fn find<'a>(&'a self, name: &'a str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// Every name a query may use: family names and their sample names.
    pub(crate) fn names(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for (f, t) in &self.families {
            out.insert(f.clone());
            let suffixes: &[&str] = match t.as_str() {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[],
            };
            out.extend(suffixes.iter().map(|s| format!("{f}{s}")));
        }
        out
    }
}

/// Parses `text`; panics with the offending line on any violation.
pub(crate) fn parse(text: &str) -> Exposition {
    let mut e = Exposition::default();
    let mut eof = false;
    for line in text.lines() {
        assert!(!eof, "text after # EOF: {line:?}");
        if line == "# EOF" {
            eof = true;
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or_else(|| panic!("bad TYPE: {line:?}"));
            assert!(
                ["counter", "gauge", "histogram", "info", "unknown"].contains(&kind),
                "{line:?}"
            );
            assert!(
                e.families.insert(name.to_owned(), kind.to_owned()).is_none(),
                "declared twice: {line:?}"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let s = sample(line);
        let family = e
            .families
            .iter()
            .filter(|(f, t)| {
                s.name == **f
                    || (t.as_str() == "counter" && s.name == format!("{f}_total"))
                    || (t.as_str() == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|x| s.name == format!("{f}{x}")))
            })
            .count();
        assert_eq!(family, 1, "sample of no declared family: {line:?}");
        assert!(s.name.starts_with("graygate_"), "{line:?}");
        e.samples.push(s);
    }
    assert!(eof, "no # EOF at the end");
    check_histograms(&e);
    e
}

fn sample(line: &str) -> Sample {
    let (head, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample: {line:?}"));
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().unwrap_or_else(|_| panic!("bad value: {line:?}")),
    };
    let (name, labels) = match head.split_once('{') {
        None => (head, BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("bad labels: {line:?}"));
            let labels = body
                .split("\",")
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label {p:?} in {line:?}"));
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect();
            (name, labels)
        }
    };
    assert!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "bad name: {line:?}"
    );
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// Buckets of each histogram series are cumulative, end in `+Inf`, and the
/// `+Inf` bucket equals `_count`.
fn check_histograms(e: &Exposition) {
    for (f, _) in e.families.iter().filter(|(_, t)| t.as_str() == "histogram") {
        // Labels but `le` → (le, cumulative count) per bucket.
        type Buckets = BTreeMap<Vec<(String, String)>, Vec<(f64, f64)>>;
        let mut series = Buckets::new();
        for s in e.samples.iter().filter(|s| s.name == format!("{f}_bucket")) {
            let le = s.labels.get("le").expect("a bucket without le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            let key = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "le")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series.entry(key).or_default().push((le, s.value));
        }
        for (key, buckets) in series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{f}{key:?}: {buckets:?}"
            );
            let last = buckets.last().unwrap();
            assert!(last.0.is_infinite(), "{f}{key:?} does not end in +Inf");
            let labels: Vec<(&str, &str)> = key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(e.value(&format!("{f}_count"), &labels), last.1, "{f}{key:?}");
        }
    }
}
