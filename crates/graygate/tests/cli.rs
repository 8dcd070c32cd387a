//! The `graygate` binary: `check`, `explain`, `serve` with SIGHUP reload and
//! SIGTERM drain, and `demo`. Processes are started on loopback ports and
//! always killed at the end, even when a test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use graygate::demo::Backend;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_graygate"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("graygate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Kills the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A blocking GET; the body, or None when nothing answers.
fn get(addr: SocketAddr, headers: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out.split("\r\n\r\n").nth(1)?.trim().to_owned())
}

/// Polls until `f` gives `Some(want)`; panics after 10 s.
fn wait_for(what: &str, want: &str, mut f: impl FnMut() -> Option<String>) {
    let mut last = None;
    for _ in 0..500 {
        last = f();
        if last.as_deref() == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what}: wanted {want:?}, last got {last:?}");
}

fn config(listen: SocketAddr, v1: SocketAddr, v2: SocketAddr, default: &str) -> String {
    format!(
        "[gateway]\nlisten = \"{listen}\"\nworkers = 1\nsticky_secret = \"cli-test-secret-0123\"\nshutdown_timeout_secs = 2\n\n[gateway.admin]\nlisten = \"127.0.0.1:0\"\n\n[groups.v1]\nservers = [{{ addr = \"{v1}\" }}]\n[groups.v2]\nservers = [{{ addr = \"{v2}\" }}]\n\n[lists]\nbeta = [\"alice\"]\n\n[[routes]]\nname = \"web\"\ndefault = \"{default}\"\n\n[[routes.rules]]\nname = \"beta\"\nwhen = {{ list = \"beta\" }}\nto = \"v2\"\n"
    )
}

#[test]
fn check_accepts_a_valid_file_and_names_line_and_field_of_each_error() {
    let ok = tmp("ok.toml");
    std::fs::write(&ok, config(free_addr(), free_addr(), free_addr(), "v1")).unwrap();
    let o = bin().arg("check").arg(&ok).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));

    let bad = tmp("bad.toml");
    std::fs::write(
        &bad,
        "[gateway]\ntrusted_proxies = [\"10.0.0/8\"]\n\n[groups.v1]\nservers = [{ addr = \"nohost\" }]\n\n[[routes]]\nname = \"web\"\ndefault = \"v9\"\n",
    )
    .unwrap();
    let o = bin().arg("check").arg(&bad).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    let file = bad.display().to_string();
    assert!(t.contains(&format!("{file}:2: gateway.trusted_proxies[0]")), "{t}");
    assert!(t.contains(&format!("{file}:5: groups.v1.servers[0].addr")), "{t}");
    assert!(t.contains(&format!("{file}:9: routes[0].default")), "{t}");
}

#[test]
fn explain_prints_route_group_rule_and_reason() {
    let f = tmp("explain.toml");
    std::fs::write(&f, config(free_addr(), free_addr(), free_addr(), "v1")).unwrap();
    let o = bin()
        .args(["explain", "--config"])
        .arg(&f)
        .args(["-H", "X-User-ID: alice", "--ip", "10.1.2.3", "http://shop.example/cart"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for line in ["route:   web", "group:   v2", "rule:    beta", "reason:  list"] {
        assert!(t.contains(line), "{line:?} missing in\n{t}");
    }
    let o = bin().args(["explain", "--config"]).arg(&f).arg("/").output().unwrap();
    assert!(text(&o).contains("reason:  default"), "{}", text(&o));
}

#[test]
fn explain_reads_a_form_body_given_with_data() {
    let f = tmp("explain-body.toml");
    let src = config(free_addr(), free_addr(), free_addr(), "v1")
        + "\n[[routes.rules]]\nname = \"pay\"\nwhen = { form = \"thirdPolicystatus\", equals = 1 }\nto = \"v2\"\n";
    std::fs::write(&f, src).unwrap();
    let o = bin()
        .args(["explain", "--config"])
        .arg(&f)
        .args(["--data", "thirdPolicystatus=1", "/pay"])
        .output()
        .unwrap();
    let t = text(&o);
    assert!(t.contains("rule:    pay") && t.contains("reason:  body"), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reloads_on_sighup_keeps_serving_on_a_bad_file_and_drains_on_sigterm() {
    let v1 = Backend::start("v1").await.unwrap();
    let v2 = Backend::start("v2").await.unwrap();
    let listen = free_addr();
    let f = tmp("serve.toml");
    std::fs::write(&f, config(listen, v1.addr(), v2.addr(), "v1")).unwrap();
    let data = tmp("serve-data");
    let child = bin()
        .args(["serve", "--config"])
        .arg(&f)
        .env("GRAYGATE_LOG", "info")
        .current_dir(data.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut gw = Running(child);
    // Collect the log as it comes, to know when a signal has been handled.
    let log = Arc::new(Mutex::new(String::new()));
    let mut err = gw.0.stderr.take().unwrap();
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let log2 = log.clone();
    let logged = move |what: &'static str| {
        let log = log2.clone();
        move || log.lock().unwrap().contains(what).then(|| "yes".to_owned())
    };
    let (a1, a2) = (v1.addr(), v2.addr());
    let gw = tokio::task::spawn_blocking(move || {
        wait_for("the gateway serves", "v1", || get(listen, ""));
        assert_eq!(get(listen, "X-User-ID: alice\r\n").as_deref(), Some("v2"));

        std::fs::write(&f, config(listen, a1, a2, "v2")).unwrap();
        signal(&gw.0, "-HUP");
        wait_for("the reloaded policy serves", "v2", || get(listen, ""));
        wait_for("the reload is logged", "yes", logged("configuration reloaded"));

        std::fs::write(&f, "[[routes]]\nname = \"broken\"\n").unwrap();
        signal(&gw.0, "-HUP");
        wait_for(
            "the bad file is refused",
            "yes",
            logged("reload failed; keeping the running configuration"),
        );
        assert_eq!(
            get(listen, "").as_deref(),
            Some("v2"),
            "the running configuration still serves"
        );

        signal(&gw.0, "-TERM");
        gw
    })
    .await
    .unwrap();
    let mut gw = gw;
    drop((v1, v2));
    let status = gw.0.wait().unwrap();
    reader.join().unwrap();
    let stderr = log.lock().unwrap().clone();
    assert!(status.success(), "exit {status}: {stderr}");
    assert!(stderr.contains("all connections drained"), "{stderr}");
}

#[test]
fn demo_starts_two_backends_and_routes_by_its_example_policy() {
    let listen = free_addr();
    let child = bin()
        .args(["demo", "--listen", &listen.to_string(), "--admin", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Running(child);
    wait_for("the demo serves", "v1", || get(listen, "X-User-ID: user1\r\n"));
    assert_eq!(get(listen, "X-Gray: 1\r\n").as_deref(), Some("v2"));
    assert_eq!(get(listen, "X-User-ID: alice\r\n").as_deref(), Some("v2"));
    signal(&demo.0, "-TERM");
    let mut out = String::new();
    demo.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(out.contains("curl"), "the demo prints what to try:\n{out}");
}

/// Every example in `examples/` passes `graygate check`, and the complete
/// example of `docs/configuration.md` is `examples/gateway.toml`.
#[test]
fn every_example_passes_check_and_the_docs_show_the_checked_text() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut checked = 0;
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = bin().arg("check").arg(&path).output().unwrap();
            assert!(out.status.success(), "{}: {}", path.display(), text(&out));
            assert!(text(&out).contains(": ok ("), "{}", text(&out));
            checked += 1;
        }
    }
    assert!(checked >= 5, "found only {checked} examples");

    let doc = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let block = doc
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap();
    let example = std::fs::read_to_string(root.join("examples/gateway.toml")).unwrap();
    let body: String = example
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        body.trim(),
        block.trim(),
        "docs/configuration.md's example differs from examples/gateway.toml"
    );
}
