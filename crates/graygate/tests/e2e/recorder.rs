//! Upstreams for hostile-input tests: one that records every byte it
//! receives (so a test can assert what reached it, or that nothing did), and
//! raw TCP servers with a scripted misbehaviour.

use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// An HTTP/1.1 upstream answering `200 <name>\n` (after reading the whole
/// body) that keeps a copy of every byte received, on every connection.
pub(crate) struct Recorder {
    pub addr: SocketAddr,
    bytes: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Mutex<Vec<(String, String, usize)>>>,
    task: JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Recorder {
    pub(crate) async fn start(name: &'static str) -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (b, sn) = (bytes.clone(), seen.clone());
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((s, _)) = l.accept().await {
                let tap = Tap {
                    inner: s,
                    out: b.clone(),
                };
                let sn = sn.clone();
                conns.spawn(async move {
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let sn = sn.clone();
                        async move {
                            let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
                            let n = req.into_body().collect().await.map_or(0, |c| c.to_bytes().len());
                            sn.lock().unwrap().push((method, path, n));
                            let mut r = Response::new(Full::new(Bytes::from(format!("{name}\n"))));
                            r.headers_mut().insert("x-body-bytes", n.into());
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tap), svc)
                        .await;
                });
            }
        });
        Recorder {
            addr,
            bytes,
            seen,
            task,
        }
    }

    /// Everything received so far, as text.
    pub(crate) fn received(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// The request heads received so far, lower-cased, in order: each
    /// request line and the header lines after it.
    pub(crate) fn heads(&self) -> Vec<String> {
        let text = self.received().to_ascii_lowercase();
        let mut heads = Vec::new();
        let mut current: Option<String> = None;
        for line in text.split("\r\n") {
            match &mut current {
                Some(h) if line.is_empty() => heads.push(std::mem::take(h)),
                Some(h) => {
                    h.push_str(line);
                    h.push('\n');
                }
                None => {}
            }
            if line.is_empty() {
                current = None;
            } else if current.is_none() && line.ends_with(" http/1.1") {
                current = Some(format!("{line}\n"));
            }
        }
        heads
    }

    /// The requests the recorder parsed and answered: method, path, body bytes.
    pub(crate) fn requests(&self) -> Vec<(String, String, usize)> {
        self.seen.lock().unwrap().clone()
    }
}

/// A head is unambiguous: not both `content-length` and
/// `transfer-encoding`, and at most one of each.
pub(crate) fn assert_unambiguous(head: &str) {
    let count = |name: &str| head.lines().filter(|l| l.starts_with(&format!("{name}:"))).count();
    let (cl, te) = (count("content-length"), count("transfer-encoding"));
    assert!(cl + te <= 1, "ambiguous framing sent upstream:\n{head}");
    if te == 1 {
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
    }
}

struct Tap {
    inner: TcpStream,
    out: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Tap {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.out.lock().unwrap().extend_from_slice(&buf.filled()[before..]);
        r
    }
}

impl AsyncWrite for Tap {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// How a [`scripted`] upstream treats each request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Script {
    /// Writes these bytes, then closes.
    Answer(&'static [u8]),
    /// Writes these bytes, then keeps the connection open, silent.
    AnswerAndHold(&'static [u8]),
    /// Resets the connection (RST) without answering.
    Reset,
}

/// A raw TCP upstream: for each connection, reads a request head, then
/// follows `script`.
pub(crate) async fn scripted(script: Script) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                match script {
                    Script::Answer(a) => {
                        let _ = s.write_all(a).await;
                    }
                    Script::AnswerAndHold(a) => {
                        let _ = s.write_all(a).await;
                        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    }
                    Script::Reset => {
                        let _ = s.set_zero_linger();
                    }
                }
            });
        }
    });
    addr
}
