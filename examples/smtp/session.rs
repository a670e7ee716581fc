//! One SMTP session (RFC 5321 subset, with RFC 3207 STARTTLS), as a tower `Service`
//! from an inbound frame to the reply lines.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tendril_net::wrap::TlsServer;
use tendril_net::{BoxError, Tendril};
use tower::Service;

use super::framing::{Body, Commands, Inbound};
use super::maildir::Maildir;

/// Recipients per message (RFC 5321 §4.5.3.1.8 asks servers to take at least 100).
pub const MAX_RECIPIENTS: usize = 100;

/// What every session of a server shares.
pub struct Config {
    pub hostname: String,
    pub max_size: usize,
    pub maildir: Maildir,
    /// STARTTLS, when a certificate is configured.
    pub tls: Option<TlsServer>,
}

/// The mail transaction being built.
#[derive(Default)]
struct Transaction {
    sender: Option<String>,
    recipients: Vec<String>,
    in_data: bool,
}

pub struct Session {
    config: Arc<Config>,
    tendril: Tendril<Inbound, Bytes>,
    /// The client's EHLO/HELO name.
    greeted: Option<String>,
    transaction: Transaction,
}

type Replies = Vec<Bytes>;

fn reply(line: impl Into<String>) -> Replies {
    vec![Bytes::from(line.into())]
}

impl Session {
    pub fn new(config: Arc<Config>, tendril: Tendril<Inbound, Bytes>) -> Self {
        Session {
            config,
            tendril,
            greeted: None,
            transaction: Transaction::default(),
        }
    }

    /// The greeting, sent when the connection opens.
    pub fn greeting(&self) -> Bytes {
        Bytes::from(format!("220 {} ESMTP tendril-net", self.config.hostname))
    }

    fn tls_offered(&self) -> bool {
        self.config.tls.is_some() && self.tendril.tls().is_none()
    }

    fn command(&mut self, line: &[u8]) -> Replies {
        let line = String::from_utf8_lossy(line);
        let (verb, args) = match line.split_once(' ') {
            Some((verb, args)) => (verb, args.trim()),
            None => (line.trim(), ""),
        };
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => self.ehlo(args),
            "HELO" => self.helo(args),
            "MAIL" => self.mail(args),
            "RCPT" => self.rcpt(args),
            "DATA" => self.data(args),
            "RSET" => {
                self.transaction = Transaction::default();
                reply("250 2.0.0 OK")
            }
            "NOOP" => reply("250 2.0.0 OK"),
            "VRFY" => reply("252 2.5.0 Cannot VRFY user, but will accept message"),
            "STARTTLS" => self.starttls(args),
            "QUIT" => {
                // The reply goes out, then the connection closes.
                self.tendril.close();
                reply("221 2.0.0 Bye")
            }
            "EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" | "AUTH" | "SEND" | "SOML" | "SAML" => {
                reply("502 5.5.1 Command not implemented")
            }
            _ => reply("500 5.5.2 Syntax error, command unrecognized"),
        }
    }

    fn ehlo(&mut self, domain: &str) -> Replies {
        if domain.is_empty() {
            return reply("501 5.5.4 EHLO needs a domain");
        }
        self.greeted = Some(domain.to_owned());
        self.transaction = Transaction::default();
        let mut lines = vec![
            format!("{} greets {domain}", self.config.hostname),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.max_size),
            "8BITMIME".to_owned(),
        ];
        if self.tls_offered() {
            lines.push("STARTTLS".to_owned());
        }
        let last = lines.len() - 1;
        lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| {
                let sep = if i == last { ' ' } else { '-' };
                Bytes::from(format!("250{sep}{line}"))
            })
            .collect()
    }

    fn helo(&mut self, domain: &str) -> Replies {
        if domain.is_empty() {
            return reply("501 5.5.4 HELO needs a domain");
        }
        self.greeted = Some(domain.to_owned());
        self.transaction = Transaction::default();
        reply(format!("250 {}", self.config.hostname))
    }

    fn mail(&mut self, args: &str) -> Replies {
        if self.greeted.is_none() {
            return reply("503 5.5.1 Send EHLO or HELO first");
        }
        if self.transaction.sender.is_some() {
            return reply("503 5.5.1 Sender already given");
        }
        let Some((sender, params)) = path_after(args, "FROM:") else {
            return reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > self.config.max_size as u64 => {
                        return reply("552 5.3.4 Message size exceeds fixed maximum message size")
                    }
                    Ok(_) => {}
                    Err(_) => return reply("501 5.5.4 Bad SIZE parameter"),
                },
                "BODY"
                    if value.eq_ignore_ascii_case("8BITMIME")
                        || value.eq_ignore_ascii_case("7BIT") => {}
                _ => return reply("555 5.5.4 Unsupported MAIL parameter"),
            }
        }
        self.transaction.sender = Some(sender);
        reply("250 2.1.0 OK")
    }

    fn rcpt(&mut self, args: &str) -> Replies {
        if self.transaction.sender.is_none() {
            return reply("503 5.5.1 Send MAIL first");
        }
        let Some((recipient, params)) = path_after(args, "TO:") else {
            return reply("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        if recipient.is_empty() {
            return reply("501 5.1.3 Empty recipient");
        }
        if !params.is_empty() {
            return reply("555 5.5.4 Unsupported RCPT parameter");
        }
        if self.transaction.recipients.len() >= MAX_RECIPIENTS {
            return reply("452 4.5.3 Too many recipients");
        }
        self.transaction.recipients.push(recipient);
        reply("250 2.1.5 OK")
    }

    fn data(&mut self, args: &str) -> Replies {
        if !args.is_empty() {
            return reply("501 5.5.4 DATA takes no arguments");
        }
        if self.transaction.recipients.is_empty() {
            return reply("503 5.5.1 Send RCPT first");
        }
        // The body is the next frame: this switch applies before the next read.
        if self
            .tendril
            .set_recv_framer(Body::new(self.config.max_size))
            .is_err()
        {
            return reply("451 4.3.0 Local error");
        }
        self.transaction.in_data = true;
        reply("354 Start mail input; end with <CRLF>.<CRLF>")
    }

    fn starttls(&mut self, args: &str) -> Replies {
        let Some(tls) = &self.config.tls else {
            return reply("502 5.5.1 STARTTLS not available");
        };
        if self.tendril.tls().is_some() {
            return reply("503 5.5.1 TLS already active");
        }
        if !args.is_empty() {
            return reply("501 5.5.4 STARTTLS takes no arguments");
        }
        // The returned "Ready" goes out in plaintext, then the stream is wrapped.
        // Anything the client sent after STARTTLS without waiting closes the
        // connection.
        if self.tendril.wrap(tls.clone()).is_err() {
            return reply("454 4.7.0 TLS not available due to temporary reason");
        }
        // RFC 3207 §4.2: forget everything learnt before TLS.
        self.greeted = None;
        self.transaction = Transaction::default();
        reply("220 2.0.0 Ready to start TLS")
    }

    /// After the body: back to commands.
    fn end_of_data(&mut self) -> Result<Transaction, Replies> {
        let transaction = std::mem::take(&mut self.transaction);
        if !transaction.in_data {
            return Err(reply("451 4.3.0 Unexpected message body"));
        }
        if self.tendril.set_recv_framer(Commands::new()).is_err() {
            return Err(reply("451 4.3.0 Local error"));
        }
        Ok(transaction)
    }
}

/// `FROM:<path> params` (the keyword case-insensitive, a space after the colon
/// tolerated): the path without its brackets, and the parameters.
fn path_after<'a>(args: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let head = args.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = args[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let path = &rest[..end];
    if path.contains(['<', '\r', '\n']) {
        return None;
    }
    Some((path.to_owned(), rest[end + 1..].trim()))
}

impl Service<Inbound> for Session {
    type Response = Replies;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Replies, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, frame: Inbound) -> Self::Future {
        let replies = match frame {
            Inbound::Line(line) => self.command(&line),
            Inbound::LineTooLong => reply("500 5.5.6 Line too long"),
            Inbound::BodyTooLarge => match self.end_of_data() {
                Ok(_) => reply("552 5.3.4 Message size exceeds fixed maximum message size"),
                Err(replies) => replies,
            },
            Inbound::Body(body) => match self.end_of_data() {
                Ok(transaction) => {
                    let config = self.config.clone();
                    return Box::pin(async move {
                        let sender = transaction.sender.unwrap_or_default();
                        let delivered = config
                            .maildir
                            .deliver(&config.hostname, &sender, &transaction.recipients, body)
                            .await;
                        Ok(match delivered {
                            Ok(name) => reply(format!("250 2.0.0 OK queued as {name}")),
                            Err(err) => {
                                eprintln!("delivery failed: {err}");
                                reply("451 4.3.0 Local error in processing")
                            }
                        })
                    });
                }
                Err(replies) => replies,
            },
        };
        Box::pin(std::future::ready(Ok(replies)))
    }
}
