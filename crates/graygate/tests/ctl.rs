//! `graygate ctl` end to end: the real admin API (over an embedded store in
//! a temporary directory) on a loopback port, and the built binary run
//! against it; each test checks what the user sees (stdout, stderr, exit
//! code) and what reached the store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use graygate_admin::{AdminState, router};
use graygate_policy::Policy;
use graygate_store::{EmbeddedOptions, EmbeddedStore, PolicyStore};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

const TOKEN: &str = "t0ken-for-tests";

/// The admin API on 127.0.0.1, served by its own runtime until dropped.
struct Api {
    url: String,
    store: Arc<EmbeddedStore>,
    rt: tokio::runtime::Runtime,
    dir: tempfile::TempDir,
}

fn start(token: Option<&str>) -> Api {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        history: 20,
        poll_interval: None,
    };
    let store = Arc::new(
        rt.block_on(EmbeddedStore::open(dir.path().join("store"), options))
            .unwrap(),
    );
    let state = AdminState {
        store: store.clone(),
        token: token.map(Arc::from),
        protect_reads: false,
        lookup: None,
        applied: None,
        metrics: None,
    };
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, router(state)).await });
    Api { url, store, rt, dir }
}

impl Api {
    /// `graygate ctl --admin URL --token TOKEN --actor tester ARGS…`.
    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_as(&["--token", TOKEN], args)
    }

    /// `graygate ctl --admin URL --actor tester AUTH… ARGS…`.
    fn ctl_as(&self, auth: &[&str], args: &[&str]) -> Output {
        let mut all = vec!["--admin", &self.url, "--actor", "tester"];
        all.extend_from_slice(auth);
        all.extend_from_slice(args);
        ctl(&all, None)
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn versions(&self) -> Vec<u64> {
        let h = self.rt.block_on(self.store.history(100)).unwrap();
        h.iter().map(|m| m.version).collect()
    }

    fn policy(&self, version: u64) -> Policy {
        let stored = self.rt.block_on(self.store.get(version)).unwrap().unwrap();
        stored.policy().unwrap()
    }

    /// Applies `examples/basic.toml` as version 1.
    fn with_basic(self) -> Self {
        let out = self.ctl(&["apply", basic().to_str().unwrap()]);
        assert_eq!(stdout(&out), "applied version 1: first policy\n", "{}", stderr(&out));
        self
    }
}

/// The binary with a clean environment; `stdin` fed when given.
fn ctl(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_graygate"));
    cmd.arg("ctl")
        .args(args)
        .env_remove("GRAYGATE_ADMIN")
        .env_remove("GRAYGATE_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn basic() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/basic.toml")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 1, nothing on stdout; the error text.
fn failed(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stdout: {}\nstderr: {}", stdout(o), stderr(o));
    assert_eq!(stdout(o), "");
    stderr(o)
}

/// The order of the weights of `rule` of the first route.
fn split_order(p: &Policy, rule: usize) -> Vec<(String, u32)> {
    let split = p.routes[0].rules[rule].split.as_ref().unwrap();
    split.weights.iter().map(|(g, w)| (g.clone(), *w)).collect()
}

#[test]
fn apply_checks_the_file_locally_and_a_bad_one_is_never_sent() {
    let api = start(Some(TOKEN)).with_basic();
    let text = std::fs::read_to_string(basic())
        .unwrap()
        .replace("default = \"v1\"", "default = \"v9\"")
        .replace("v2 = 1000, v1 = 9000", "v2 = 1000, v1 = 8000");
    let bad = api.file("broken.toml", &text);
    let err = failed(&api.ctl(&["apply", bad.to_str().unwrap()]));
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let file = bad.display();
    let default_line = format!("{file}:{}: routes[0].default: ", line_of("default = \"v9\""));
    assert!(err.contains(&default_line), "{err}");
    let split_line = format!("{file}:{}: routes[0].rules[1].split", line_of("v1 = 8000"));
    assert!(err.contains(&split_line), "{err}");

    let syntax = api.file("syntax.toml", "[[routes]]\nname = \n");
    let err = failed(&api.ctl(&["apply", syntax.to_str().unwrap()]));
    assert!(err.starts_with(&format!("{}:2: ", syntax.display())), "{err}");
    let err = failed(&api.ctl(&["apply", "/nonexistent/policy.toml"]));
    assert!(err.contains("/nonexistent/policy.toml: "), "{err}");
    assert_eq!(api.versions(), [1], "nothing was saved");
}

#[test]
fn get_prints_toml_that_applies_back_to_the_same_policy() {
    let api = start(Some(TOKEN)).with_basic();
    let out = api.ctl(&["get"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let toml = stdout(&out);
    let header = toml.lines().next().unwrap();
    assert!(header.starts_with("# version 1 by tester at 20"), "{header}");
    assert!(header.ends_with("Z: first policy"), "{header}");

    let again = api.file("again.toml", &toml);
    let out = api.ctl(&["apply", again.to_str().unwrap()]);
    assert_eq!(
        stdout(&out),
        "no change: the policy is already so at version 1\n",
        "{}",
        stderr(&out)
    );
    let v1 = api.policy(1);
    assert_eq!(split_order(&v1, 1), [("v2".to_owned(), 1000), ("v1".to_owned(), 9000)]);

    // JSON too, and an earlier version; --json prints the answer itself.
    let out = api.ctl(&["get", "--format", "json", "--version", "1"]);
    let json = api.file("again.json", &stdout(&out));
    let out = api.ctl(&["apply", json.to_str().unwrap()]);
    assert_eq!(
        stdout(&out),
        "no change: the policy is already so at version 1\n",
        "{}",
        stderr(&out)
    );
    let raw: serde_json::Value = serde_json::from_slice(&api.ctl(&["--json", "get"]).stdout).unwrap();
    assert_eq!(raw["version"], 1);
    assert_eq!(raw["who"], "tester");
    let err = failed(&api.ctl(&["get", "--version", "99"]));
    assert_eq!(err, "version 99 is not in the history\n");
}

#[test]
fn set_split_takes_percentages_and_checks_the_sum_before_sending() {
    let api = start(Some(TOKEN)).with_basic();
    let out = api.ctl(&["set-split", "shop", "ten-percent", "v1=75", "v2=25"]);
    assert_eq!(
        stdout(&out),
        "applied version 2: shop/ten-percent: v2 10% → 25%, v1 90% → 75%\n",
        "{}",
        stderr(&out)
    );
    // The split keeps its order (v2 first) whatever the order typed.
    assert_eq!(
        split_order(&api.policy(2), 1),
        [("v2".to_owned(), 2500), ("v1".to_owned(), 7500)]
    );
    let out = api.ctl(&["set-split", "shop", "ten-percent", "v2=0.5", "v1=9950bp"]);
    assert_eq!(
        stdout(&out),
        "applied version 3: shop/ten-percent: v2 25% → 0.50%, v1 75% → 99.50%\n",
        "{}",
        stderr(&out)
    );

    let err = failed(&api.ctl(&["set-split", "shop", "ten-percent", "v1=90", "v2=5"]));
    assert!(err.contains("the weights sum to 95% (9500 bp), not 100%"), "{err}");
    let err = failed(&api.ctl(&["set-split", "shop", "ten-percent", "v1=90", "v2=10.001"]));
    assert!(err.contains("more than two decimals"), "{err}");
    let err = failed(&api.ctl(&["set-split", "nope", "ten-percent", "v1=100"]));
    assert_eq!(err, "no route named \"nope\"\n");
    let err = failed(&api.ctl(&["set-split", "shop", "testers", "v1=100"]));
    assert!(err.contains("rule testers of route shop has no split"), "{err}");
    assert_eq!(api.versions(), [3, 2, 1]);
}

#[test]
fn a_hundred_thousand_ids_from_a_file_in_one_call() {
    let api = start(Some(TOKEN)).with_basic();
    let mut ids = String::from("# beta users, exported today\n\n");
    for i in 0..100_000 {
        ids.push_str(&format!("user-{i}\n"));
        if i % 1000 == 0 {
            ids.push_str("   \n# a comment\n");
        }
    }
    let file = api.file("ids.txt", &ids);
    let out = api.ctl(&["list", "add", "beta", "--file", file.to_str().unwrap()]);
    assert_eq!(
        stdout(&out),
        "applied version 2: list beta: +100000 ids (100000 in all)\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(api.policy(2).lists["beta"].len(), 100_000);
    // `get` writes a long list one id per line, and it still applies back unchanged.
    let out = api.ctl(&["get"]);
    let toml = stdout(&out);
    assert!(
        toml.contains("beta = [\n  \"user-0\",\n  \"user-1\",\n"),
        "{}",
        stderr(&out)
    );
    let again = api.file("again.toml", &toml);
    let out = api.ctl(&["apply", again.to_str().unwrap()]);
    assert_eq!(
        stdout(&out),
        "no change: the policy is already so at version 2\n",
        "{}",
        stderr(&out)
    );

    let out = api.ctl(&["list", "remove", "beta", "user-1", "user-2", "ghost"]);
    assert_eq!(
        stdout(&out),
        "applied version 3: list beta: -2 ids (99998 in all)\n",
        "{}",
        stderr(&out)
    );
    // Arguments and stdin together.
    let mut args = vec!["--admin", &api.url, "--token", TOKEN];
    args.extend(["list", "add", "beta", "user-1", "--file", "-"]);
    let out = ctl(&args, Some("# from stdin\nuser-2\nuser-3\n"));
    assert_eq!(
        stdout(&out),
        "applied version 4: list beta: +2 ids (100000 in all)\n",
        "{}",
        stderr(&out)
    );

    let err = failed(&api.ctl(&["list", "remove", "nope", "x"]));
    assert_eq!(err, "no list named \"nope\"\n");
    let empty = api.file("empty.txt", "# nothing\n\n");
    let err = failed(&api.ctl(&["list", "add", "beta", "--file", empty.to_str().unwrap()]));
    assert!(err.contains("no ids given"), "{err}");
    assert_eq!(api.versions(), [4, 3, 2, 1]);
}

#[test]
fn history_is_a_table_and_rollback_makes_a_new_version() {
    let api = start(Some(TOKEN)).with_basic();
    api.ctl(&["set-split", "shop", "ten-percent", "v2=50", "v1=50"]);
    let out = api.ctl(&["rollback", "1"]);
    assert_eq!(
        stdout(&out),
        "applied version 3: rollback to version 1\n",
        "{}",
        stderr(&out)
    );
    assert_eq!(api.policy(3), api.policy(1));

    let out = api.ctl(&["history", "--limit", "2"]);
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("VERSION  WHEN (UTC)            WHO     SUMMARY"),
        "{table}"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "3");
    assert!(row[1].ends_with('Z') && row[1].len() == 20, "{table}");
    assert_eq!(&row[2..], ["tester", "rollback", "to", "version", "1"]);
    assert!(
        lines[2].ends_with("shop/ten-percent: v2 10% → 50%, v1 90% → 50%"),
        "{table}"
    );

    let raw: serde_json::Value = serde_json::from_slice(&api.ctl(&["history", "--json"]).stdout).unwrap();
    assert_eq!(raw["versions"].as_array().unwrap().len(), 3);
    let err = failed(&api.ctl(&["rollback", "42"]));
    assert_eq!(err, "version 42 is not in the history\n");
}

#[test]
fn explain_prints_the_decision_of_the_gateway_policy() {
    let api = start(Some(TOKEN)).with_basic();
    let out = api.ctl(&["explain", "http://shop.example.com/", "-H", "X-Gray: 1"]);
    assert_eq!(
        stdout(&out),
        "route:   shop\ngroup:   v2\nrule:    testers\nreason:  header\nversion: 1\n\
         fallback: v1 (when every server of v2 is down)\n",
        "{}",
        stderr(&out)
    );
    let out = api.ctl(&[
        "explain",
        "/cart",
        "-H",
        "X-User-ID: 42",
        "--cookie",
        "a=b",
        "--ip",
        "10.1.2.3",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("route:   shop\n"), "{text}{}", stderr(&out));
    assert!(text.contains("rule:    ten-percent\nreason:  hash\n"), "{text}");
    assert!(text.contains(" of 10000\n"), "{text}");
    let raw: serde_json::Value = serde_json::from_slice(&api.ctl(&["explain", "/", "--json"]).stdout).unwrap();
    assert_eq!(raw["rule"], "default");
    let err = failed(&api.ctl(&["explain", "/", "-H", "no colon"]));
    assert!(err.contains("expected `Name: value`"), "{err}");
}

#[test]
fn a_stale_if_match_names_the_current_version() {
    let api = start(Some(TOKEN)).with_basic();
    api.ctl(&["set-split", "shop", "ten-percent", "v2=20", "v1=80"]);
    let basic = basic();
    let err = failed(&api.ctl(&["apply", basic.to_str().unwrap(), "--if-match", "1"]));
    assert_eq!(
        err,
        "the policy changed meanwhile: it is now at version 2; re-read it and retry\n"
    );
    let out = api.ctl(&["apply", basic.to_str().unwrap(), "--if-match", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(api.versions(), [3, 2, 1]);
}

#[test]
fn a_missing_or_wrong_token_says_which() {
    let api = start(Some(TOKEN));
    let basic = basic();
    let file = basic.to_str().unwrap();
    let err = failed(&api.ctl_as(&[], &["apply", file]));
    assert!(
        err.contains("needs a token for this and none was given: set --token"),
        "{err}"
    );
    let err = failed(&api.ctl_as(&["--token", "guess"], &["apply", file]));
    assert!(err.contains("refused the token: wrong token"), "{err}");
    assert!(api.versions().is_empty());

    // --token-file, and GRAYGATE_TOKEN (flags after the subcommand work too).
    let token_file = api.file("token", &format!("{TOKEN}\n"));
    let out = api.ctl_as(&[], &["apply", file, "--token-file", token_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_graygate"))
        .args(["ctl", "rollback", "1"])
        .env("GRAYGATE_ADMIN", &api.url)
        .env("GRAYGATE_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "no change: the policy is already so at version 1\n",
        "{}",
        stderr(&out)
    );

    let tokenless = start(None);
    let err = failed(&tokenless.ctl(&["apply", file]));
    assert!(err.contains("refuses this: no admin token is configured"), "{err}");
}

#[test]
fn status_shows_the_version_the_store_and_the_latest_change() {
    let api = start(Some(TOKEN));
    let out = api.ctl(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("policy:    none yet"), "{}", stdout(&out));
    let api = api.with_basic();
    let text = stdout(&api.ctl(&["status"]));
    assert!(text.contains("policy:    version 1\nstore:     connected\n"), "{text}");
    assert!(text.contains("latest:    version 1 by tester at "), "{text}");
    let raw: serde_json::Value = serde_json::from_slice(&api.ctl(&["status", "--json"]).stdout).unwrap();
    assert_eq!(raw["readyz"]["policy_version"], 1);
    assert_eq!(raw["latest"]["who"], "tester");
}

#[test]
fn an_unreachable_or_wrong_admin_url_is_explained() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let closed = format!("http://127.0.0.1:{port}");
    let err = failed(&ctl(&["--admin", &closed, "status"], None));
    assert!(
        err.starts_with(&format!("cannot reach the admin API at {closed}: ")),
        "{err}"
    );
    assert!(err.contains("is `graygate serve` running with an admin listener? set --admin or GRAYGATE_ADMIN"));

    let err = failed(&ctl(&["--admin", "https://gw.example:9180", "status"], None));
    assert!(
        err.contains("https is not supported") && err.contains("SSH tunnel"),
        "{err}"
    );
    let err = failed(&ctl(&["--admin", "gw.example:9180", "status"], None));
    assert!(err.contains("invalid --admin URL"), "{err}");

    // Something that answers, but not JSON: a plain-text server on loopback.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nconnection: close\r\n\r\nhello world\n")
            .unwrap();
    });
    let err = failed(&ctl(&["--admin", &url, "history"], None));
    server.join().unwrap();
    assert!(err.contains("answered 200 OK with something that is not JSON"), "{err}");
    assert!(err.contains("hello world"), "{err}");
}
