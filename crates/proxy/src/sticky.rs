//! Stickiness cookies (R12): `<group>.<mac>`, where the MAC is
//! HMAC-SHA256(secret, route ∥ 0 ∥ group) truncated to 128 bits, hex.
//!
//! The cookie names a group, not a server, so it survives scaling and works
//! across any number of gateways that share the secret. A cookie whose MAC
//! does not verify is ignored as if absent; whether the group it names may
//! still serve is the policy engine's call (`Overrides::sticky`), so a pin to
//! a withdrawn version is dropped, not honoured.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write as _;
use std::io;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of MAC kept in the cookie.
const MAC_LEN: usize = 16;

/// The key that signs and verifies stickiness cookies.
#[derive(Clone)]
pub struct StickyKey {
    mac: HmacSha256,
}

impl std::fmt::Debug for StickyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StickyKey(..)")
    }
}

impl StickyKey {
    /// A key from secret bytes.
    pub fn new(secret: &[u8]) -> StickyKey {
        // HMAC accepts keys of any length; this cannot fail.
        let mac = <HmacSha256 as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable_key());
        StickyKey { mac }
    }

    /// The configured secret, or the one kept in `data_dir/sticky-secret`,
    /// generated there on first use.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> io::Result<StickyKey> {
        if let Some(s) = configured {
            return Ok(StickyKey::new(s.as_bytes()));
        }
        let path = data_dir.join("sticky-secret");
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 16 => return Ok(StickyKey::new(&bytes)),
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is shorter than 16 bytes", path.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        let hex = hex(&secret);
        std::fs::create_dir_all(data_dir)?;
        // Write then rename, so a crash never leaves a half-written secret.
        // Readable by the gateway's user only: the secret forges pins.
        let tmp = data_dir.join("sticky-secret.tmp");
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(hex.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(StickyKey::new(hex.as_bytes()))
    }

    /// A random key that lives as long as the process (tests, `demo`).
    pub fn ephemeral() -> StickyKey {
        let mut secret = [0u8; 32];
        if getrandom::fill(&mut secret).is_err() {
            // No OS randomness: fall back to the address-space layout and time.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            secret[..16].copy_from_slice(&t.to_le_bytes());
        }
        StickyKey::new(&secret)
    }

    fn tag(&self, route: &str, group: &str) -> [u8; MAC_LEN] {
        let mut m = self.mac.clone();
        m.update(route.as_bytes());
        m.update(&[0]);
        m.update(group.as_bytes());
        let full = m.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// The cookie value pinning `route` to `group`.
    pub fn sign(&self, route: &str, group: &str) -> String {
        let mut v = String::with_capacity(group.len() + 1 + 2 * MAC_LEN);
        v.push_str(group);
        v.push('.');
        v.push_str(&hex(&self.tag(route, group)));
        v
    }

    /// The group a cookie value pins `route` to, when its MAC verifies.
    pub fn verify<'v>(&self, route: &str, value: &'v str) -> Option<&'v str> {
        let (group, mac) = value.rsplit_once('.')?;
        if mac.len() != 2 * MAC_LEN {
            return None;
        }
        let expected = self.tag(route, group);
        let mut diff = 0u8;
        for (i, e) in expected.iter().enumerate() {
            let b = u8::from_str_radix(mac.get(2 * i..2 * i + 2)?, 16).ok()?;
            diff |= b ^ e;
        }
        // Constant-time comparison: no early exit on the first differing byte.
        (diff == 0).then_some(group)
    }
}

fn unreachable_key() -> HmacSha256 {
    // `new_from_slice` only fails for fixed-size-key MACs; HMAC is not one.
    // Keep the request path panic-free all the same: a key of zeros.
    match <HmacSha256 as Mac>::new_from_slice(&[0u8; 32]) {
        Ok(m) => m,
        Err(_) => std::process::abort(),
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_cookie_verifies_for_its_route_only() {
        let k = StickyKey::new(b"0123456789abcdef");
        let v = k.sign("web", "canary");
        assert_eq!(k.verify("web", &v), Some("canary"));
        assert_eq!(k.verify("api", &v), None);
    }

    #[test]
    fn a_forged_cookie_is_ignored() {
        let k = StickyKey::new(b"0123456789abcdef");
        let v = k.sign("web", "stable").replacen("stable", "canary", 1);
        assert_eq!(k.verify("web", &v), None);
        assert_eq!(k.verify("web", "canary"), None);
        assert_eq!(k.verify("web", "canary.zz"), None);
        let other = StickyKey::new(b"another secret!!");
        assert_eq!(other.verify("web", &k.sign("web", "canary")), None);
    }

    #[test]
    fn the_generated_secret_is_kept_across_restarts() {
        let dir = std::env::temp_dir().join(format!("graygate-sticky-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = StickyKey::load(None, &dir).unwrap();
        let b = StickyKey::load(None, &dir).unwrap();
        assert_eq!(b.verify("r", &a.sign("r", "g")), Some("g"));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("sticky-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the gateway's user may read the secret");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
