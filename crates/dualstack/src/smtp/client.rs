//! The dialogue: [`Client`]'s settings and the steps greeting → EHLO (→ HELO) →
//! STARTTLS (see [`tls`](super::tls)) → QUIT, each reply under a timeout.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

#[cfg(feature = "tls")]
use super::tls;
use super::{
    Capabilities, Direction, Entry, Hello, ProbeError, Reply, ReplyParser, Report, SmtpError,
    Stage, DEFAULT_DIALOGUE_TIMEOUT, DEFAULT_MAX_REPLY_LINES, DEFAULT_REPLY_TIMEOUT,
};
use crate::lines::{LineError, LineStream, DEFAULT_MAX_LINE};

/// The transcript note after a server line that ended in a bare LF.
pub(super) const BARE_LF_NOTE: &str =
    "the line above ended in a bare LF, not CRLF (RFC 5321 §2.3.8 requires CRLF)";

/// A callback that sees each transcript entry as it happens (to print it live).
pub type Observer = Arc<dyn Fn(&Entry) + Send + Sync>;

/// STARTTLS settings: the rustls configuration and the name to verify.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub struct StartTls {
    pub(super) config: Arc<rustls::ClientConfig>,
    pub(super) server_name: rustls::pki_types::ServerName<'static>,
    pub(super) verified: bool,
}

#[cfg(feature = "tls")]
impl StartTls {
    /// STARTTLS verifying the server's certificate for `server_name` (a DNS name or IP
    /// address) against `config`'s roots.
    pub fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> Self {
        StartTls {
            config,
            server_name,
            verified: true,
        }
    }

    /// STARTTLS verifying against the Mozilla root store (webpki-roots).
    ///
    /// # Errors
    ///
    /// When `server_name` is neither a DNS name nor an IP address.
    pub fn webpki(server_name: &str) -> Result<Self, rustls::pki_types::InvalidDnsNameError> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())?;
        Ok(Self::new(tls::webpki_config(), name))
    }

    /// STARTTLS that accepts any certificate: **for tests only**. The connection is
    /// encrypted but anyone in the path can read it.
    pub fn insecure() -> Self {
        StartTls {
            config: tls::insecure_config(),
            server_name: rustls::pki_types::ServerName::try_from("invalid")
                .expect("a valid DNS name"),
            verified: false,
        }
    }
}

/// The SMTP test client: configuration for [`probe`](Self::probe).
#[derive(Clone)]
pub struct Client {
    ehlo_name: String,
    greeting_timeout: Duration,
    pub(super) reply_timeout: Duration,
    dialogue_timeout: Duration,
    pub(super) max_line_length: usize,
    max_reply_lines: usize,
    started_at: Option<Instant>,
    observer: Option<Observer>,
    #[cfg(feature = "tls")]
    starttls: Option<StartTls>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("ehlo_name", &self.ehlo_name)
            .field("greeting_timeout", &self.greeting_timeout)
            .field("reply_timeout", &self.reply_timeout)
            .field("dialogue_timeout", &self.dialogue_timeout)
            .field("max_line_length", &self.max_line_length)
            .field("max_reply_lines", &self.max_reply_lines)
            .field("started_at", &self.started_at)
            .field("observer", &self.observer.as_ref().map(|_| "Fn(&Entry)"));
        #[cfg(feature = "tls")]
        d.field("starttls", &self.starttls);
        d.finish()
    }
}

impl Client {
    /// A client that greets with `EHLO ehlo_name` (a domain, or an [`address_literal`](super::address_literal)),
    /// with the default timeouts and limits.
    pub fn new(ehlo_name: impl Into<String>) -> Self {
        Client {
            ehlo_name: ehlo_name.into(),
            greeting_timeout: DEFAULT_REPLY_TIMEOUT,
            reply_timeout: DEFAULT_REPLY_TIMEOUT,
            dialogue_timeout: DEFAULT_DIALOGUE_TIMEOUT,
            max_line_length: DEFAULT_MAX_LINE,
            max_reply_lines: DEFAULT_MAX_REPLY_LINES,
            started_at: None,
            observer: None,
            #[cfg(feature = "tls")]
            starttls: None,
        }
    }

    /// How long to wait for the 220 greeting (default [`DEFAULT_REPLY_TIMEOUT`]).
    pub fn greeting_timeout(mut self, t: Duration) -> Self {
        self.greeting_timeout = t;
        self
    }

    /// How long to wait for each reply and for the TLS handshake (default
    /// [`DEFAULT_REPLY_TIMEOUT`]).
    pub fn reply_timeout(mut self, t: Duration) -> Self {
        self.reply_timeout = t;
        self
    }

    /// The limit for the whole dialogue, counted from the call to
    /// [`probe`](Self::probe) (default [`DEFAULT_DIALOGUE_TIMEOUT`]).
    pub fn dialogue_timeout(mut self, t: Duration) -> Self {
        self.dialogue_timeout = t;
        self
    }

    /// The longest reply line accepted (default [`DEFAULT_MAX_LINE`], 8 KiB).
    pub fn max_line_length(mut self, n: usize) -> Self {
        self.max_line_length = n;
        self
    }

    /// The most lines in one reply (default [`DEFAULT_MAX_REPLY_LINES`]).
    pub fn max_reply_lines(mut self, n: usize) -> Self {
        self.max_reply_lines = n;
        self
    }

    /// Measure transcript offsets from `t` (e.g. when the connect started) instead of
    /// from the call to [`probe`](Self::probe).
    pub fn started_at(mut self, t: Instant) -> Self {
        self.started_at = Some(t);
        self
    }

    /// Call `f` with each transcript entry as it happens.
    pub fn observer(mut self, f: impl Fn(&Entry) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Upgrade the connection with STARTTLS after the first EHLO (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn starttls(mut self, tls: StartTls) -> Self {
        self.starttls = Some(tls);
        self
    }

    /// Run the dialogue on a connected stream: greeting, EHLO (HELO if EHLO gets a 5xx),
    /// STARTTLS if configured, QUIT.
    ///
    /// # Errors
    ///
    /// A [`ProbeError`] with the [`SmtpError`] and the report up to the failure: a
    /// timeout, a closed connection, an overlong line, a malformed reply, a reply with the
    /// wrong code, a failed TLS handshake. After a well-formed refusal (other than 421)
    /// it still sends QUIT, as RFC 5321 §3.1 asks.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future abandons the dialogue mid-way (the stream is
    /// dropped, which closes the connection).
    pub async fn probe<S>(&self, stream: S) -> Result<Report, ProbeError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut ctx = Ctx {
            client: self,
            start: self.started_at.unwrap_or_else(Instant::now),
            report: Report::default(),
            stage: Stage::Greeting,
        };
        let lines = LineStream::new(stream).with_max_length(self.max_line_length);
        let limit = self.dialogue_timeout;
        let result = tokio::time::timeout(limit, ctx.run(lines))
            .await
            .unwrap_or_else(|_| {
                Err(SmtpError::DialogueTimedOut {
                    after: limit,
                    stage: ctx.stage,
                })
            });
        match result {
            Ok(()) => {
                ctx.report.timings.total = Some(ctx.start.elapsed());
                Ok(ctx.report)
            }
            Err(error) => {
                ctx.report.timings.total = Some(ctx.start.elapsed());
                Err(ProbeError {
                    error,
                    report: Box::new(ctx.report),
                })
            }
        }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) client: &'a Client,
    pub(super) start: Instant,
    pub(super) report: Report,
    /// Where the dialogue is, for the dialogue timeout's message.
    pub(super) stage: Stage,
}

impl Ctx<'_> {
    pub(super) fn record(&mut self, direction: Direction, line: Bytes) {
        let entry = Entry {
            at: self.start.elapsed(),
            direction,
            line,
        };
        if let Some(f) = &self.client.observer {
            f(&entry);
        }
        self.report.transcript.entries.push(entry);
    }

    async fn run<S>(&mut self, mut lines: LineStream<S>) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let greeting = self
            .read_reply(&mut lines, Stage::Greeting, self.client.greeting_timeout)
            .await?;
        self.report.timings.greeting = Some(self.start.elapsed());
        self.report.greeting = Some(greeting.clone());
        if greeting.code != 220 {
            return self
                .refused(&mut lines, Stage::Greeting, 220, greeting)
                .await;
        }

        let t = Instant::now();
        let res = self.hello(&mut lines).await;
        self.report.timings.hello = Some(t.elapsed());
        res?;

        #[cfg(feature = "tls")]
        if let Some(tls) = self.client.starttls.clone() {
            return self.starttls(lines, &tls).await;
        }
        self.quit(&mut lines).await
    }

    /// EHLO, and HELO if the server does not know EHLO (5xx).
    pub(super) async fn hello<S>(&mut self, lines: &mut LineStream<S>) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let name = self.client.ehlo_name.clone();
        let reply = self
            .command(lines, Stage::Ehlo, &format!("EHLO {name}"))
            .await?;
        if reply.code == 250 {
            self.report.capabilities = Some(Capabilities::parse(&reply));
            self.report.hello = Some(Hello {
                command: "EHLO",
                name,
                reply,
            });
            return Ok(());
        }
        if !(500..600).contains(&reply.code) {
            return self.refused(lines, Stage::Ehlo, 250, reply).await;
        }
        // RFC 5321 §3.2: a server that does not support EHLO answers 5xx; fall back to
        // HELO, which has no extensions.
        let reply = self
            .command(lines, Stage::Helo, &format!("HELO {name}"))
            .await?;
        if reply.code != 250 {
            return self.refused(lines, Stage::Helo, 250, reply).await;
        }
        self.report.capabilities = None;
        self.report.hello = Some(Hello {
            command: "HELO",
            name,
            reply,
        });
        Ok(())
    }

    pub(super) async fn quit<S>(&mut self, lines: &mut LineStream<S>) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let t = Instant::now();
        let reply = self.command(lines, Stage::Quit, "QUIT").await?;
        self.report.timings.quit = Some(t.elapsed());
        self.report.quit = Some(reply.clone());
        if reply.code != 221 {
            return Err(SmtpError::Unexpected {
                stage: Stage::Quit,
                expected: 221,
                reply,
            });
        }
        Ok(())
    }

    /// QUIT on the way out of a failed dialogue; its outcome does not matter, and
    /// `last_reply` keeps the reply that decided the failure.
    pub(super) async fn polite_quit<S>(&mut self, lines: &mut LineStream<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let decisive = self.report.last_reply.clone();
        let _ = self.quit(lines).await;
        self.report.last_reply = decisive;
    }

    /// A well-formed reply with the wrong code: say goodbye politely (unless the server
    /// is closing anyway, 421) and fail with that reply.
    pub(super) async fn refused<S>(
        &mut self,
        lines: &mut LineStream<S>,
        stage: Stage,
        expected: u16,
        reply: Reply,
    ) -> Result<(), SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        if reply.code != 421 && stage != Stage::Quit {
            self.polite_quit(lines).await;
        }
        Err(SmtpError::Unexpected {
            stage,
            expected,
            reply,
        })
    }

    pub(super) async fn command<S>(
        &mut self,
        lines: &mut LineStream<S>,
        stage: Stage,
        command: &str,
    ) -> Result<Reply, SmtpError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        lines
            .write_line(command.as_bytes())
            .await
            .map_err(|source| SmtpError::Send {
                command: stage.command(),
                source,
            })?;
        self.record(
            Direction::Client,
            Bytes::copy_from_slice(command.as_bytes()),
        );
        self.read_reply(lines, stage, self.client.reply_timeout)
            .await
    }

    pub(super) async fn read_reply<S>(
        &mut self,
        lines: &mut LineStream<S>,
        stage: Stage,
        timeout: Duration,
    ) -> Result<Reply, SmtpError>
    where
        S: AsyncRead + Unpin,
    {
        self.stage = stage;
        let mut parser = ReplyParser::with_max_lines(self.client.max_reply_lines);
        let read = async {
            loop {
                let line = match lines.read_line().await {
                    Ok(Some(line)) => line,
                    Ok(None) if parser.in_reply() => {
                        return Err(SmtpError::ClosedMidReply { stage })
                    }
                    Ok(None) => return Err(SmtpError::Closed { stage }),
                    Err(LineError::ClosedMidLine { partial }) => {
                        self.record(Direction::Server, partial);
                        return Err(SmtpError::ClosedMidReply { stage });
                    }
                    Err(LineError::TooLong { max }) => {
                        return Err(SmtpError::LineTooLong { stage, max })
                    }
                    Err(LineError::Io(source)) => return Err(SmtpError::Read { stage, source }),
                    Err(e) => {
                        return Err(SmtpError::Read {
                            stage,
                            source: std::io::Error::other(e),
                        })
                    }
                };
                self.record(Direction::Server, line.clone());
                if lines.last_line_bare_lf() {
                    self.record(Direction::Note, Bytes::from_static(BARE_LF_NOTE.as_bytes()));
                }
                match parser.push(&line) {
                    Ok(Some(reply)) => return Ok(reply),
                    Ok(None) => {}
                    Err(source) => return Err(SmtpError::BadReply { stage, source }),
                }
            }
        };
        let reply =
            tokio::time::timeout(timeout, read)
                .await
                .unwrap_or(Err(SmtpError::TimedOut {
                    stage,
                    after: timeout,
                }))?;
        tracing::debug!(%stage, code = reply.code, "reply");
        self.report.last_reply = Some(reply.clone());
        Ok(reply)
    }
}
