//! Policies that change at run time (issue 4), through `graygate serve`'s own
//! start-up path: the store, the admin API, the swap. Here on the embedded
//! store; `shared.rs` runs several gateways on one real Redis.

use super::harness::{Gw, backends, eventually};
use graygate::demo::Backend;
use graygate_policy::{CompiledPolicy, Overrides, RequestAttrs};
use graygate_store::PolicyStore;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub(crate) const TOKEN: &str = "live-test-token";

/// A gateway started the way `graygate serve` starts one.
pub(crate) struct Live {
    pub gw: Gw,
    pub admin: SocketAddr,
    pub store: Arc<dyn PolicyStore>,
}

/// `[gateway]` settings for a live gateway: decision headers on, admin API on
/// a free port with [`TOKEN`], state in `dir`, then `extra` lines (e.g. a
/// `[gateway.store]` table).
pub(crate) fn live_config(dir: &std::path::Path, extra: &str, policy: &str) -> String {
    format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\naccess_log = \"off\"\ndecision_headers = true\nshutdown_timeout_secs = 1\ndata_dir = \"{}\"\n\n[gateway.admin]\nlisten = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\n\n{extra}\n\n{policy}",
        dir.display()
    )
}

pub(crate) async fn start_live(src: &str) -> Live {
    let config = graygate_proxy::Config::from_toml(src, 0).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let running = graygate::serve::start(config, None)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{src}"));
    let admin = running.admin.unwrap();
    let store = running.store.clone();
    Live {
        gw: Gw::serving(running.server),
        admin,
        store,
    }
}

/// Route `web`: a hash split of users between v1 and v2, `v2_share` in basis points.
pub(crate) fn split_policy(v1: &Backend, v2: &Backend, v2_share: u32) -> String {
    format!(
        "[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[groups.v2]\nservers = [{{ addr = \"{}\" }}]\n\n[[routes]]\nname = \"web\"\ndefault = \"v1\"\n\n[[routes.rules]]\nname = \"ramp\"\nsplit = {{ by = \"user\", salt = \"web/ramp\", weights = {{ v1 = {}, v2 = {v2_share} }} }}\n",
        v1.addr(),
        v2.addr(),
        10_000 - v2_share
    )
}

/// Calls the admin API at `admin`; the status and the JSON body.
pub(crate) async fn admin_call(admin: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    let body = body.map_or_else(Vec::new, |b| serde_json::to_vec(&b).unwrap());
    let req = http::Request::builder()
        .method(method)
        .uri(format!("http://{admin}{path}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("x-actor", "e2e")
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// One proxied answer: the user, the decision headers and the backend.
#[derive(Debug, Clone)]
struct Seen {
    user: String,
    version: u64,
    group: String,
    backend: String,
}

/// While one task ramps the split through the admin API as fast as it can,
/// four clients send requests; every answer must be exactly what the policy
/// version named in its `X-Graygate-Version` decides for its user — group
/// header and serving backend alike — and each client must see versions
/// only move forward.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_replaced_many_times_a_second_decides_each_request_by_exactly_one_version() {
    let (v1, v2) = backends().await;
    let dir = tempfile::tempdir().unwrap();
    let src = live_config(
        dir.path(),
        "[gateway.store]\nhistory = 1000",
        &split_policy(&v1, &v2, 0),
    );
    let live = start_live(&src).await;
    eventually("the seeded version 1 serves", || async {
        live.gw.get("/", &[("x-user-id", "u1")]).await.h("x-graygate-version") == "1"
    })
    .await;

    let done = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (client, addr, done) = (live.gw.client.clone(), live.gw.addr, done.clone());
        clients.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = 0u32;
            while !done.load(Ordering::Relaxed) || i < 50 {
                let user = format!("user-{}", (i * 4 + c) % 300);
                let req = http::Request::builder()
                    .uri(format!("http://{addr}/"))
                    .header("x-user-id", &user)
                    .body(super::harness::TestBody::empty())
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), 200, "every request is served");
                let h = |n: &str| resp.headers().get(n).unwrap().to_str().unwrap().to_owned();
                let (version, group) = (h("x-graygate-version").parse().unwrap(), h("x-graygate-group"));
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let backend = String::from_utf8_lossy(&body).trim().to_owned();
                seen.push(Seen {
                    user,
                    version,
                    group,
                    backend,
                });
                i += 1;
            }
            seen
        }));
    }
    // 120 changes: the canary share climbs and falls in steps of 5 %.
    let writes = 120u32;
    for n in 0..writes {
        let share = (n % 20 + 1) * 500 % 10_000;
        let weights = json!({ "weights": { "v1": 10_000 - share, "v2": share } });
        let (status, body) = admin_call(live.admin, "PUT", "/api/v1/routes/web/splits/ramp", Some(weights)).await;
        assert_eq!(status, 200, "{body}");
    }
    done.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for c in clients {
        let seen = c.await.unwrap();
        for pair in seen.windows(2) {
            assert!(pair[0].version <= pair[1].version, "versions went backwards: {pair:?}");
        }
        all.extend(seen);
    }

    // Every version that answered, compiled from the store's history.
    let mut policies: HashMap<u64, CompiledPolicy> = HashMap::new();
    let mut versions: Vec<u64> = all.iter().map(|s| s.version).collect();
    versions.dedup();
    for v in versions {
        if let std::collections::hash_map::Entry::Vacant(e) = policies.entry(v) {
            e.insert(live.store.get(v).await.unwrap().unwrap().compile().unwrap());
        }
    }
    for s in &all {
        let policy = &policies[&s.version];
        let req = RequestAttrs::get("/").header("x-user-id", &s.user);
        let expected = policy.decide(&req, Overrides::default()).unwrap();
        assert_eq!(s.group, expected.group, "{s:?} is not version {}'s decision", s.version);
        assert_eq!(
            s.backend, s.group,
            "{s:?}: the group header and the serving backend differ"
        );
    }
    assert!(
        policies.len() >= 10,
        "the traffic met only {} versions: the test did not overlap the changes",
        policies.len()
    );
    assert_eq!(
        live.store.load().await.unwrap().unwrap().version(),
        u64::from(writes) + 1
    );
    let (_, ready) = admin_call(live.admin, "GET", "/readyz", None).await;
    assert_eq!(ready["policy_version"], u64::from(writes) + 1);
}

/// The file seeds an empty store; a restart with a changed file keeps the
/// store's version (changed through the API meanwhile) and says so; a
/// restart on the same data directory keeps the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_seeds_the_store_and_the_store_wins_after_a_restart() {
    let (v1, v2) = backends().await;
    let dir = tempfile::tempdir().unwrap();
    let src = live_config(dir.path(), "", &split_policy(&v1, &v2, 0));
    let live = start_live(&src).await;
    eventually("the file's policy is saved as version 1", || async {
        live.gw.get("/", &[("x-user-id", "a")]).await.h("x-graygate-version") == "1"
    })
    .await;
    let (status, _) = admin_call(
        live.admin,
        "PUT",
        "/api/v1/routes/web/splits/ramp",
        Some(json!({ "weights": { "v1": 0, "v2": 10_000 } })),
    )
    .await;
    assert_eq!(status, 200);
    eventually("version 2 sends everyone to v2", || async {
        live.gw.get("/", &[("x-user-id", "a")]).await.backend() == "v2"
    })
    .await;
    drop(live);

    let again = start_live(&src).await;
    let r = again.gw.get("/", &[("x-user-id", "a")]).await;
    assert_eq!(
        (r.h("x-graygate-version"), r.backend()),
        ("2", "v2"),
        "the store's version serves"
    );
    let history = again.store.history(10).await.unwrap();
    assert_eq!(history.len(), 2, "{history:?}");
    assert!(history[1].who.starts_with("file:"), "{history:?}");
    assert_eq!(history[0].who, "e2e");
}
