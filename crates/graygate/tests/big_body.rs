//! A 256 MiB body each way through the gateway, with bounded memory: the
//! process's peak resident size grows by far less than the body. Alone in its
//! own test binary so that no other test's allocations blur the measure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use graygate::demo::Backend;
use graygate_proxy::{Config, Gateway, Server, StickyKey};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

const SIZE: u64 = 256 << 20;

/// Peak resident set size of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `n` bytes of 0x5a in 64 KiB frames, length announced or not.
struct Upload {
    left: u64,
    exact: bool,
}

static CHUNK: [u8; 64 * 1024] = [0x5a; 64 * 1024];

impl Body for Upload {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let k = self.left.min(CHUNK.len() as u64);
        self.left -= k;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..k as usize])))))
    }
    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.left)
        } else {
            SizeHint::default()
        }
    }
}

/// Streams 256 MiB up and 256 MiB down through a route whose rule reads
/// form bodies (so the bounded-read path is exercised too); the peak RSS of
/// the whole process — client, gateway and backend — grows by less than 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_body_streams_both_ways_with_bounded_memory() {
    let backend = Backend::start("v1").await.unwrap();
    let src = format!(
        "[gateway]\nlisten = \"127.0.0.1:0\"\naccess_log = \"off\"\n\n[groups.v1]\nservers = [{{ addr = \"{}\" }}]\n[[routes]]\nname = \"web\"\ndefault = \"v1\"\n[[routes.rules]]\nwhen = {{ form = \"x\", equals = \"1\" }}\nto = \"v1\"\n",
        backend.addr()
    );
    let gateway = Gateway::with_key(Config::from_toml(&src, 1).unwrap(), StickyKey::ephemeral()).unwrap();
    let server = Server::bind(gateway).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve(std::future::pending()));
    let client = Client::builder(TokioExecutor::new()).build_http::<Upload>();

    let upload = |exact| {
        http::Request::post(format!("http://{addr}/upload"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Upload { left: SIZE, exact })
            .unwrap()
    };
    // Warm up every buffer and connection first.
    let warm = http::Request::post(format!("http://{addr}/"))
        .body(Upload {
            left: 1 << 20,
            exact: true,
        })
        .unwrap();
    client.request(warm).await.unwrap().into_body().collect().await.unwrap();
    let before = peak_rss_kib();

    for exact in [true, false] {
        let resp = client.request(upload(exact)).await.unwrap();
        assert_eq!(resp.status(), 200);
        let got = resp.headers()["x-body-bytes"].to_str().unwrap().to_owned();
        assert_eq!(got, SIZE.to_string(), "every byte arrived (exact length: {exact})");
        resp.into_body().collect().await.unwrap();
    }

    let down = http::Request::get(format!("http://{addr}/_demo/bytes/{SIZE}"))
        .body(Upload { left: 0, exact: true })
        .unwrap();
    let mut body = client.request(down).await.unwrap().into_body();
    let mut n = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(d) = frame.unwrap().into_data() {
            n += d.len() as u64;
        }
    }
    assert_eq!(n, SIZE);

    let growth_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    assert!(
        growth_mib < 64,
        "peak RSS grew by {growth_mib} MiB while streaming 3 × 256 MiB"
    );
}
