//! The line (telnet) whoami, like the classic "telar" autoresponder: on connect the server
//! sends the [`Facts`] as `key: value` lines ending in CRLF, then closes. It reads nothing,
//! so a client cannot make it buffer anything.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::Facts;

/// Send `facts` as CRLF lines on `stream`, then shut down the sending side.
///
/// The caller bounds the time (a client that never reads can stall the write only once
/// the socket buffer is full, which a reply of a few hundred bytes does not fill).
///
/// # Errors
/// The write or shutdown failed (the client went away).
///
/// # Cancel safety
/// Not cancel safe: a cancelled call may have sent part of the reply.
pub async fn respond<W: AsyncWrite + Unpin>(stream: &mut W, facts: &Facts) -> std::io::Result<()> {
    stream.write_all(facts.to_lines().as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sends_lines_and_closes() {
        let facts = Facts::new(
            "[::ffff:192.0.2.7]:5000".parse().unwrap(),
            "[::ffff:127.0.0.1]:2323".parse().unwrap(),
        );
        let (mut a, mut b) = tokio::io::duplex(1024);
        respond(&mut a, &facts).await.unwrap();
        let mut got = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut b, &mut got)
            .await
            .unwrap();
        assert_eq!(
            got,
            "ip: 192.0.2.7\r\nport: 5000\r\nfamily: IPv4\r\nlocal: 127.0.0.1:2323\r\n"
        );
    }
}
