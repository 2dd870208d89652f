//! STARTTLS (RFC 3207, feature `tls`): rustls client configurations (ring provider, TLS
//! 1.2 and 1.3) and the dialogue's STARTTLS step.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use super::{Direction, SmtpError, Stage, StartTls, TlsInfo};
use crate::lines::LineStream;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A client configuration trusting the Mozilla root store (webpki-roots).
pub fn webpki_config() -> Arc<ClientConfig> {
    config_with_roots(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
}

/// A client configuration trusting exactly `roots` (e.g. a test CA).
pub fn config_with_roots(roots: rustls::RootCertStore) -> Arc<ClientConfig> {
    Arc::new(
        ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The CA certificates of a PEM file (`-----BEGIN CERTIFICATE-----` blocks; anything else
/// in the file is skipped), as a root store for [`config_with_roots`].
///
/// # Errors
/// The file cannot be read, a certificate block is malformed, no certificate is in it, or
/// one is not a usable CA certificate.
pub fn roots_from_pem_file(path: &std::path::Path) -> std::io::Result<rustls::RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    use std::io::{Error, ErrorKind};
    // Read it ourselves first: a missing file is the plain I/O error, not a PEM one.
    let pem = std::fs::read(path)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| Error::new(ErrorKind::InvalidData, e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| Error::new(ErrorKind::InvalidData, e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidData,
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file",
        ));
    }
    Ok(roots)
}

/// A client configuration that accepts any certificate (handshake signatures are
/// still checked). For tests against self-signed servers only.
pub fn insecure_config() -> Arc<ClientConfig> {
    let provider = provider();
    Arc::new(
        ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
    )
}

#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl super::client::Ctx<'_> {
    pub(super) async fn starttls<S>(
        &mut self,
        mut lines: LineStream<S>,
        tls: &StartTls,
    ) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let offered = self.report.capabilities.as_ref().map(|c| c.starttls);
        if offered != Some(true) {
            let error = SmtpError::NoStartTls {
                helo: offered.is_none(),
            };
            self.polite_quit(&mut lines).await;
            return Err(error);
        }
        let t = Instant::now();
        let reply = self
            .command(&mut lines, Stage::StartTls, "STARTTLS")
            .await?;
        if reply.code != 220 {
            return self.refused(&mut lines, Stage::StartTls, 220, reply).await;
        }
        let (stream, leftover) = lines.into_parts();
        if !leftover.is_empty() {
            return Err(SmtpError::DataAfterStartTls(leftover.len()));
        }
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        self.stage = Stage::TlsHandshake;
        let handshake = connector.connect(tls.server_name.clone(), stream);
        let stream = match tokio::time::timeout(self.client.reply_timeout, handshake).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SmtpError::Tls(e)),
            Err(_) => {
                return Err(SmtpError::TimedOut {
                    stage: Stage::TlsHandshake,
                    after: self.client.reply_timeout,
                })
            }
        };
        let conn = stream.get_ref().1;
        let version = match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "unknown".to_string(),
        };
        let cipher = conn
            .negotiated_cipher_suite()
            .map(|s| {
                let s = s.suite();
                s.as_str().map_or_else(|| format!("{s:?}"), str::to_string)
            })
            .unwrap_or_else(|| "unknown".to_string());
        self.report.timings.starttls = Some(t.elapsed());
        self.record(
            Direction::Note,
            Bytes::from(format!(
                "TLS handshake done: {version} {cipher}{}",
                if tls.verified {
                    ""
                } else {
                    " (certificate NOT verified)"
                }
            )),
        );
        self.report.tls = Some(TlsInfo {
            version,
            cipher,
            verified: tls.verified,
        });
        // RFC 3207 §4.2: forget what was learnt before TLS and ask again.
        self.report.capabilities_before_tls = self.report.capabilities.take();
        let mut lines = LineStream::new(stream).with_max_length(self.client.max_line_length);
        let t = Instant::now();
        let res = self.hello(&mut lines).await;
        self.report.timings.tls_hello = Some(t.elapsed());
        res?;
        self.quit(&mut lines).await
    }
}
