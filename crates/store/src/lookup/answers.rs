//! A request's lookup answers, fetched before deciding, and the adapter that
//! lets the policy engine read them through [`Request::lookup`].

use super::Answer;
use graygate_policy::{Lookup, Request};
use std::borrow::Cow;
use std::net::IpAddr;

/// Answers for one request's keys, from [`super::KeyLookup::get_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LookupAnswers {
    entries: Vec<(String, Answer)>,
}

impl LookupAnswers {
    /// The answer for `key`, as `Request::lookup` returns it; a key that was
    /// not looked up is [`Lookup::Unavailable`].
    pub fn get(&self, key: &str) -> Lookup<'_> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map_or(Lookup::Unavailable, |(_, a)| a.as_lookup())
    }

    /// True when no key was looked up.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The keys and answers.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Answer)> {
        self.entries.iter().map(|(k, a)| (k.as_str(), a))
    }
}

impl FromIterator<(String, Answer)> for LookupAnswers {
    fn from_iter<I: IntoIterator<Item = (String, Answer)>>(iter: I) -> Self {
        LookupAnswers {
            entries: iter.into_iter().collect(),
        }
    }
}

impl LookupAnswers {
    /// `req` seen by the policy engine with these answers to its lookups.
    pub fn answering<'a, R: Request + ?Sized>(&'a self, req: &'a R) -> WithAnswers<'a, R> {
        WithAnswers { req, answers: self }
    }
}

/// A request whose [`Request::lookup`] is answered from [`LookupAnswers`];
/// every other attribute is the wrapped request's.
#[derive(Debug)]
pub struct WithAnswers<'a, R: ?Sized> {
    req: &'a R,
    answers: &'a LookupAnswers,
}

impl<R: Request + ?Sized> Request for WithAnswers<'_, R> {
    fn host(&self) -> Option<&str> {
        self.req.host()
    }
    fn path(&self) -> &str {
        self.req.path()
    }
    fn method(&self) -> &str {
        self.req.method()
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }
    fn query_string(&self) -> Option<&str> {
        self.req.query_string()
    }
    fn client_ip(&self) -> Option<IpAddr> {
        self.req.client_ip()
    }
    fn cookie(&self, name: &str) -> Option<&str> {
        self.req.cookie(name)
    }
    fn query(&self, name: &str) -> Option<Cow<'_, str>> {
        self.req.query(name)
    }
    fn form(&self, name: &str) -> Option<Cow<'_, str>> {
        self.req.form(name)
    }
    fn json(&self, pointer: &str) -> Option<Cow<'_, str>> {
        self.req.json(pointer)
    }
    fn lookup(&self, key: &str) -> Lookup<'_> {
        self.answers.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use graygate_policy::{Overrides, RequestAttrs};

    #[test]
    fn a_found_answer_routes_the_user_and_an_unavailable_one_does_not_match() {
        let compiled = graygate_policy::compile(&crate::testutil::policy(), 1).unwrap();
        let req = RequestAttrs::get("http://example.com/").header("X-User-ID", "42");
        let route = compiled.route(&req).unwrap();
        let keys = route.lookup_keys(&req);
        assert_eq!(keys, ["gray:42"]);

        let found: LookupAnswers = [("gray:42".to_owned(), Answer::Found("1".into()))]
            .into_iter()
            .collect();
        let d = route.decide(&found.answering(&req), Overrides::default());
        assert_eq!(d.group, "canary");

        let down: LookupAnswers = [("gray:42".to_owned(), Answer::Unavailable)].into_iter().collect();
        let d = route.decide(&down.answering(&req), Overrides::default());
        assert_eq!(d.group, "stable");
        assert_eq!(LookupAnswers::default().get("gray:42"), Lookup::Unavailable);
    }
}
