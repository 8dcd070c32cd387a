//! One access-log line per request, carrying the decision (route, group,
//! rule, reason, policy version) — the seeds' `$group` log field, done
//! properly.
//!
//! Lines are formatted on the request path and handed to a writer thread over
//! a bounded channel, so a slow disk never blocks a request: when the channel
//! is full the line is dropped and counted, and the count is reported.

use crate::config::AccessLogFormat;
use graygate_policy::Decision;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::time::{Duration, SystemTime};

/// Lines waiting for the writer before new ones are dropped.
const QUEUE: usize = 16 * 1024;

/// What one access-log line says.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The client (after trusted-proxy resolution).
    pub client: IpAddr,
    /// Request method.
    pub method: &'a str,
    /// Request path (without query, which may carry secrets).
    pub path: &'a str,
    /// Status sent to the client.
    pub status: u16,
    /// The decision, when a route matched.
    pub decision: Option<&'a Decision<'a>>,
    /// The server that answered, if any.
    pub upstream: Option<&'a str>,
    /// From the request head to the response head.
    pub latency: Duration,
}

/// The access log.
#[derive(Debug)]
pub struct AccessLog {
    format: AccessLogFormat,
    tx: Option<SyncSender<String>>,
    dropped: AtomicU64,
}

impl AccessLog {
    /// An access log in `format`, appended to `path` or written to stdout.
    pub fn new(format: AccessLogFormat, path: Option<&Path>) -> io::Result<AccessLog> {
        if format == AccessLogFormat::Off {
            return Ok(AccessLog::off());
        }
        let out: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
            None => Box::new(io::stdout()),
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("graygate-access-log".to_owned())
            .spawn(move || writer(rx, out))?;
        Ok(AccessLog {
            format,
            tx: Some(tx),
            dropped: AtomicU64::new(0),
        })
    }

    /// No access log.
    pub fn off() -> AccessLog {
        AccessLog {
            format: AccessLogFormat::Off,
            tx: None,
            dropped: AtomicU64::new(0),
        }
    }

    /// Lines dropped because the writer could not keep up.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Logs one request.
    pub fn log(&self, e: &Entry<'_>) {
        let Some(tx) = &self.tx else { return };
        let line = match self.format {
            AccessLogFormat::Json => json_line(e),
            _ => plain_line(e),
        };
        if let Err(TrySendError::Full(_)) = tx.try_send(line) {
            let n = self.dropped.fetch_add(1, Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "access log cannot keep up; lines dropped");
            }
        }
    }
}

fn writer(rx: Receiver<String>, out: Box<dyn Write + Send>) {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(line) = rx.recv() {
        let _ = out.write_all(line.as_bytes());
        // Drain what is queued, then flush once.
        while let Ok(line) = rx.try_recv() {
            let _ = out.write_all(line.as_bytes());
        }
        let _ = out.flush();
    }
}

fn plain_line(e: &Entry<'_>) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "{} {} \"{} {}\" {}",
        timestamp(),
        e.client,
        e.method,
        e.path,
        e.status
    );
    match e.decision {
        Some(d) => {
            let _ = write!(
                s,
                " route={} group={} rule={} reason={} version={}",
                d.route,
                d.group,
                d.rule,
                d.reason.as_str(),
                d.version
            );
        }
        None => s.push_str(" route=- group=- rule=- reason=- version=-"),
    }
    let _ = writeln!(
        s,
        " upstream={} latency_ms={:.3}",
        e.upstream.unwrap_or("-"),
        e.latency.as_secs_f64() * 1000.0
    );
    s
}

fn json_line(e: &Entry<'_>) -> String {
    let v = serde_json::json!({
        "time": timestamp(),
        "client": e.client.to_string(),
        "method": e.method,
        "path": e.path,
        "status": e.status,
        "route": e.decision.map(|d| d.route),
        "group": e.decision.map(|d| d.group),
        "rule": e.decision.map(|d| d.rule),
        "reason": e.decision.map(|d| d.reason.as_str()),
        "version": e.decision.map(|d| d.version),
        "upstream": e.upstream,
        "latency_ms": e.latency.as_secs_f64() * 1000.0,
    });
    let mut s = v.to_string();
    s.push('\n');
    s
}

/// UTC time as RFC 3339 with milliseconds.
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_without_a_route_has_dashes() {
        let e = Entry {
            client: "127.0.0.1".parse().unwrap(),
            method: "GET",
            path: "/x",
            status: 404,
            decision: None,
            upstream: None,
            latency: Duration::from_micros(1500),
        };
        let l = plain_line(&e);
        assert!(l.contains("\"GET /x\" 404 route=- group=-"), "{l}");
        assert!(l.ends_with("upstream=- latency_ms=1.500\n"), "{l}");
        let j: serde_json::Value = serde_json::from_str(&json_line(&e)).unwrap();
        assert_eq!(j["status"], 404);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = timestamp();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
