//! `graygate demo`: the gateway and two demo backends (`v1`, `v2`) on
//! loopback, with an example policy — a header rule, a user list, a 10 % user
//! split, stickiness — and a few `curl` commands to try.

mod backend;

pub use backend::{Backend, DemoBody, FNV_START, fnv1a};

use graygate_proxy::{Config, Gateway, Server, StickyKey, run_with_signals};
use std::net::SocketAddr;
use std::process::ExitCode;

/// The demo policy for backends at `v1` and `v2`, gateway on `listen`.
pub fn policy(listen: SocketAddr, v1: SocketAddr, v2: SocketAddr) -> String {
    format!(
        r#"# graygate demo: v1 is stable, v2 the canary.
[gateway]
listen = "{listen}"
decision_headers = true        # X-Graygate-Group / X-Graygate-Version on every answer

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
pub fn run(listen: SocketAddr) -> ExitCode {
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
        let src = policy(listen, v1.addr(), v2.addr());
        let config = Config::from_toml(&src, 1).map_err(|e| format!("demo policy: {e}"))?;
        let gateway = Gateway::with_key(config, StickyKey::ephemeral()).map_err(|e| e.to_string())?;
        let server = Server::bind(gateway)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e} (is something else on that port? try --listen)"))?;
        let addr = server.local_addr().map_err(|e| e.to_string())?;
        println!("{}", banner(addr, &src));
        run_with_signals(server, None).await.map_err(|e| e.to_string())
    });
    crate::cli::finish(rt, result)
}

fn banner(addr: SocketAddr, src: &str) -> String {
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

Every answer carries X-Graygate-Group and X-Graygate-Version; the access log below has the
route, group, rule and reason of each request. Ctrl-C stops."#
    )
}
