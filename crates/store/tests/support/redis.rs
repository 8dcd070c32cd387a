//! A real `redis-server` for one test: loopback only, a free port, a temp
//! directory, no automatic persistence; killed when dropped.
//!
//! When `redis-server` is not installed, the first test to need it installs
//! the Debian package (`apt-get`, non-interactive), as CI does on a fresh
//! machine.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// A running `redis-server`; SIGKILLed on drop.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    /// Serve TLS only, with a certificate from a private CA (`ca.crt`).
    tls: bool,
    /// `requirepass`, when set.
    password: Option<String>,
    /// More `redis-server` arguments (e.g. `--replicaof`).
    extra: Vec<String>,
    /// Run as a Sentinel with this configuration.
    sentinel_conf: Option<String>,
}

static INSTALL: Mutex<()> = Mutex::new(());

fn binary() -> PathBuf {
    tool("redis-server", "redis-server")
}

/// The path of `name`, installing Debian package `package` when missing.
fn tool(name: &str, package: &str) -> PathBuf {
    let found = || {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/local/bin")])
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    };
    if let Some(p) = found() {
        return p;
    }
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = found() {
        return p;
    }
    eprintln!("{name} not found; installing {package} with apt-get");
    let status = Command::new("sh")
        .args(["-c", &format!("apt-get update && apt-get install -y {package}")])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status();
    match (status, found()) {
        (_, Some(p)) => p,
        (status, None) => panic!("{name} is required and could not be installed ({status:?})"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_with(false)
    }

    /// Starts a server that requires `password` ([`Self::url`] carries it).
    pub fn start_with_password(password: &str) -> Self {
        let mut s = Self::unstarted(false);
        s.password = Some(password.to_owned());
        s.launch()
    }

    /// Starts a server with more arguments, e.g. `["--replicaof", host, port]`.
    pub fn start_with_args(args: &[&str]) -> Self {
        let mut s = Self::unstarted(false);
        s.extra = args.iter().map(|a| (*a).to_owned()).collect();
        s.launch()
    }

    /// Starts a Sentinel with `conf` (e.g. `sentinel monitor …` lines).
    pub fn start_sentinel(conf: &str) -> Self {
        let mut s = Self::unstarted(false);
        s.sentinel_conf = Some(conf.to_owned());
        s.launch()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn unstarted(tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        if tls {
            make_certificates(dir.path());
        }
        RedisServer {
            child: None,
            port: free_port(),
            dir,
            tls,
            password: None,
            extra: Vec::new(),
            sentinel_conf: None,
        }
    }

    fn launch(mut self) -> Self {
        for _ in 0..5 {
            if self.spawn() {
                return self;
            }
            self.port = free_port();
        }
        panic!("could not start redis-server");
    }

    /// Starts a TLS-only server whose certificate (for `127.0.0.1`) is
    /// signed by a private CA, [`Self::ca_file`].
    pub fn start_tls() -> Self {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Self {
        Self::unstarted(tls).launch()
    }

    /// Spawns on `self.port`; true once it answers.
    fn spawn(&mut self) -> bool {
        let mut cmd = Command::new(binary());
        if let Some(conf) = &self.sentinel_conf {
            let path = self.dir.path().join("sentinel.conf");
            std::fs::write(&path, conf).unwrap();
            cmd.arg(path).arg("--sentinel");
        }
        if self.tls {
            let d = self.dir.path();
            cmd.args([
                "--port",
                "0",
                "--tls-port",
                &self.port.to_string(),
                "--tls-auth-clients",
                "no",
            ])
            .arg("--tls-cert-file")
            .arg(d.join("server.crt"))
            .arg("--tls-key-file")
            .arg(d.join("server.key"))
            .arg("--tls-ca-cert-file")
            .arg(d.join("ca.crt"));
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        let child = cmd
            .args(["--bind", "127.0.0.1"])
            .args(self.password.iter().flat_map(|p| ["--requirepass", p]))
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..500 {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                self.child = None;
                return false; // exited: port taken
            }
            if self.ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    fn client(&self) -> redis::Client {
        if self.tls {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(std::fs::read(self.ca_file()).unwrap()),
            };
            redis::Client::build_with_tls(self.url(), certs).unwrap()
        } else {
            redis::Client::open(self.url()).unwrap()
        }
    }

    /// The private CA's certificate (PEM) of a TLS server.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    fn ping(&self) -> bool {
        let client = self.client();
        let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200)) else {
            return false;
        };
        redis::cmd("PING").query::<String>(&mut c).is_ok()
    }

    /// `redis://[:PASSWORD@]127.0.0.1:PORT` (`rediss://` for TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let auth = self.password.as_ref().map_or(String::new(), |p| format!(":{p}@"));
        format!("{scheme}://{auth}127.0.0.1:{}", self.port)
    }

    /// A plain synchronous connection for setting up and inspecting.
    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }

    /// SIGKILLs the server (nothing is saved).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Writes the data set to `dump.rdb` (loaded again by [`Self::restart`]).
    pub fn save_rdb(&self) {
        redis::cmd("SAVE").query::<()>(&mut self.conn()).unwrap();
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart redis-server on port {}", self.port);
    }

    /// The number of calls of `command` since the last `CONFIG RESETSTAT`.
    pub fn calls(&self, command: &str) -> u64 {
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut self.conn()).unwrap();
        let prefix = format!("cmdstat_{}:calls=", command.to_ascii_lowercase());
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    }
}

/// Writes `ca.crt` and `server.crt` / `server.key` (for IP 127.0.0.1,
/// signed by the CA) into `dir`, with the `openssl` tool.
fn make_certificates(dir: &Path) {
    let openssl = tool("openssl", "openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=graygate-test-ca",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
