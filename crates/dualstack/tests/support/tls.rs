//! A fresh self-signed certificate for test peers (aioquic, aiosmtpd with STARTTLS).

use std::path::{Path, PathBuf};

/// Writes a self-signed certificate for `names` and its key to `dir/cert.pem` and
/// `dir/key.pem`; returns (certificate, key) paths. The certificate doubles as the CA
/// file a client trusts.
pub fn self_signed(dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
    let ck =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}
