//! `graygate demo`: the gateway and two demo backends (`v1`, `v2`) on
//! loopback, with an example policy — a header rule, a user list, a 10 % user
//! split, stickiness — and a few `curl` commands to try.

mod backend;

pub use backend::{Backend, DemoBody, FNV_START, fnv1a};

use graygate_proxy::Config;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Where the demo's gateway and admin API listen, and its state directory.
#[derive(Debug, Clone)]
pub struct DemoSetup {
    /// The gateway's address.
    pub listen: SocketAddr,
    /// The admin API's address.
    pub admin: SocketAddr,
    /// The admin token.
    pub token: String,
    /// The embedded store and stickiness secret live here.
    pub data_dir: std::path::PathBuf,
}

/// The demo configuration for backends at `v1` and `v2`.
pub fn policy(setup: &DemoSetup, v1: SocketAddr, v2: SocketAddr) -> String {
    let DemoSetup {
        listen,
        admin,
        token,
        data_dir,
    } = setup;
    let data_dir = data_dir.display();
    format!(
        r#"# graygate demo: v1 is stable, v2 the canary.
[gateway]
listen = "{listen}"
decision_headers = true        # X-Graygate-Group / X-Graygate-Version on every answer
data_dir = "{data_dir}"        # the embedded policy store (versions, history) and the stickiness secret

[gateway.admin]
listen = "{admin}"
token = "{token}"

[groups.v1]
servers = [{{ addr = "{v1}" }}]

[groups.v2]
servers = [{{ addr = "{v2}" }}]

[lists]
beta = ["alice", "bob"]

[[routes]]
name = "web"
default = "v1"
fallback = "v1"                # if v2 goes down, its users are served by v1
sticky = {{}}                    # a client stays on the version that first served it

[[routes.rules]]
name = "gray-header"
when = {{ header = "X-Gray", equals = "1" }}
to = "v2"

[[routes.rules]]
name = "beta-users"
when = {{ list = "beta" }}     # the user id comes from the X-User-ID header
to = "v2"

[[routes.rules]]
name = "ten-percent"
split = {{ by = "user", weights = {{ v1 = 9000, v2 = 1000 }} }}
"#
    )
}

/// Runs the demo until Ctrl-C.
pub fn run(listen: SocketAddr, admin: SocketAddr) -> ExitCode {
    let rt = match crate::cli::runtime(0) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let v1 = Backend::start("v1")
            .await
            .map_err(|e| format!("demo backend v1: {e}"))?;
        let v2 = Backend::start("v2")
            .await
            .map_err(|e| format!("demo backend v2: {e}"))?;
        let data_dir = std::env::temp_dir().join(format!("graygate-demo-{}", std::process::id()));
        let setup = DemoSetup {
            listen,
            admin,
            token: demo_token(),
            data_dir: data_dir.clone(),
        };
        let src = policy(&setup, v1.addr(), v2.addr());
        let config = Config::from_toml(&src, 0).map_err(|e| format!("demo configuration: {e}"))?;
        let running = crate::serve::start(config, None)
            .await
            .map_err(|e| format!("{e} (is something else on that port? try --listen / --admin)"))?;
        let addr = running.server.local_addr().map_err(|e| e.to_string())?;
        let admin = running.admin.unwrap_or(admin);
        println!("{}", banner(addr, admin, &setup.token, &src));
        let result = running.run().await.map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&data_dir);
        result
    });
    crate::cli::finish(rt, result)
}

/// A fresh random token, so the demo's admin API is not open to every local user.
fn demo_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = std::process::id().to_le_bytes().repeat(4).try_into().unwrap_or([7; 16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn banner(addr: SocketAddr, admin: SocketAddr, token: &str, src: &str) -> String {
    format!(
        r#"graygate demo: gateway on http://{addr}, backends v1 and v2 on loopback.

The policy:
{src}
Try:
  curl -i http://{addr}/                              # v1: no rule matches (default)
  curl -i -H 'X-Gray: 1' http://{addr}/               # v2: header rule
  curl -i -H 'X-User-ID: alice' http://{addr}/        # v2: alice is in the beta list
  for u in $(seq 1 20); do curl -s -H "X-User-ID: user$u" http://{addr}/; done | sort | uniq -c
                                                      # about 10 % of users on v2, always the same ones
  curl -i -c /tmp/gg.txt -H 'X-Gray: 1' http://{addr}/   # sets the stickiness cookie gg_web
  curl -i -b /tmp/gg.txt http://{addr}/               # still v2: pinned by the cookie

Change the policy while it runs (admin API on http://{admin}, see docs/ctl.md):
  export GRAYGATE_ADMIN=http://{admin} GRAYGATE_TOKEN={token}
  cargo run --release -- ctl set-split web ten-percent v1=50 v2=50   # now half the users on v2
  cargo run --release -- ctl list add beta carol                     # carol joins the beta list
  cargo run --release -- ctl history                                 # who changed what, when
  cargo run --release -- ctl rollback 1                              # back to the first version
  curl -s -H "Authorization: Bearer $GRAYGATE_TOKEN" http://{admin}/api/v1/policy/history

Watch each version (docs/observability.md):
  cargo run --release -- ctl top                                     # rate, success, p50/p99, share vs target, alerts
  curl -s http://{admin}/api/v1/stats                                # the same as JSON, 1 and 5 minute windows
  curl -s http://{admin}/metrics                                     # Prometheus

Every answer carries X-Graygate-Group and X-Graygate-Version; the access log below has the
route, group, rule and reason of each request. Ctrl-C stops."#
    )
}
