//! `connect`'s QUIC side: the flags that turn QUIC racing on (`--quic`, `--alpn`), the
//! certificate rules (`--cacert`, `--insecure`; the TLS configurations are the smtp
//! command's), and the relay of stdin/stdout over one bidirectional QUIC stream.

use std::path::PathBuf;
use std::sync::Arc;

use dualstack::connect::quic::QuicConnection;

use super::{CliError, CliResult, Exit};

/// QUIC racing options of `connect`.
#[derive(Debug, Clone, clap::Args)]
pub struct QuicOpts {
    /// Race QUIC against TCP (draft-ietf-happy-happyeyeballs-v3-04) for addresses whose
    /// HTTPS record lists h3 (with --svcb) or for every address when --alpn lists h3; the
    /// relay then rides one bidirectional QUIC stream.
    #[arg(long)]
    pub quic: bool,
    /// ALPN ids to offer, comma-separated, in preference order (e.g. h3 or h3,h2): an h3
    /// id gives every address a QUIC attempt (implies --quic), HTTPS record or not.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub alpn: Vec<String>,
    /// Trust the CA certificates in this PEM file instead of the built-in web roots for
    /// QUIC handshakes.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub cacert: Option<PathBuf>,
    /// Accept any certificate on QUIC handshakes (tests against self-signed servers
    /// only: the peer is not authenticated).
    #[arg(long)]
    pub insecure: bool,
}

impl QuicOpts {
    /// Whether QUIC attempts may be made.
    pub fn racing(&self) -> bool {
        self.quic || self.alpn.iter().any(|a| dualstack::connect::is_h3(a))
    }

    /// Check the ALPN ids (RFC 7301: 1 to 255 bytes each).
    ///
    /// # Errors
    /// A usage error naming the bad id.
    pub fn check(&self) -> Result<(), CliError> {
        for a in &self.alpn {
            if a.is_empty() || a.len() > 255 {
                return Err(CliError::usage(format!(
                    "--alpn: {a:?} is not an ALPN id (1 to 255 bytes)"
                )));
            }
        }
        Ok(())
    }

    /// The rustls configuration for QUIC handshakes: `--cacert`'s roots, or any
    /// certificate with `--insecure` (warned about loudly on stderr), or the web roots.
    ///
    /// # Errors
    /// A usage error when the `--cacert` file cannot be read or holds no certificate.
    pub fn tls(&self) -> Result<Arc<rustls::ClientConfig>, CliError> {
        if self.insecure {
            eprintln!(
                "dualstack: WARNING: --insecure: QUIC certificates are NOT checked; \
                 anyone on the path can impersonate the server"
            );
            return Ok(dualstack::smtp::tls::insecure_config());
        }
        match &self.cacert {
            Some(path) => {
                let roots = dualstack::smtp::tls::roots_from_pem_file(path)
                    .map_err(|e| CliError::usage(format!("--cacert {}: {e}", path.display())))?;
                Ok(dualstack::smtp::tls::config_with_roots(roots))
            }
            None => Ok(dualstack::smtp::tls::webpki_config()),
        }
    }
}

/// Relay stdin → one bidirectional stream → stdout; the send side is finished at stdin's
/// end (the peer sees the stream's FIN), the connection closed when the peer finishes its
/// side.
pub async fn relay(q: QuicConnection) -> CliResult {
    use tokio::io::AsyncWriteExt;
    let (mut send, mut recv) = q
        .connection
        .open_bi()
        .await
        .map_err(|e| CliError::failure(format!("cannot open a QUIC stream: {e}")))?;
    let upload = tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let r = tokio::io::copy(&mut stdin, &mut send).await;
        let _ = send.finish();
        r
    });
    let mut stdout = tokio::io::stdout();
    let copied = tokio::io::copy(&mut recv, &mut stdout).await;
    let flushed = stdout.flush().await;
    upload.abort();
    q.connection.close(0u32.into(), b"done");
    // Give the CONNECTION_CLOSE a moment to leave; the peer times out otherwise.
    let _ = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        q.endpoint().wait_idle(),
    )
    .await;
    copied?;
    flushed?;
    Ok(Exit::Success)
}
