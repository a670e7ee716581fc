//! Delivery into a Maildir: each message is written to `tmp/`, then renamed into
//! `new/`, so a reader never sees a partial file.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Messages delivered by this process, for unique names.
static DELIVERED: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

impl Maildir {
    /// Opens (creating if missing) the Maildir at `root`.
    pub fn create(root: &Path) -> io::Result<Self> {
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        Ok(Maildir { root: root.into() })
    }

    /// Writes one message: a `Return-Path:` line with the envelope sender, one
    /// `X-Envelope-To:` line per recipient, then `body` exactly as received. Returns
    /// the file's name.
    pub async fn deliver(
        &self,
        hostname: &str,
        sender: &str,
        recipients: &[String],
        body: &[u8],
    ) -> io::Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.M{}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            DELIVERED.fetch_add(1, Ordering::Relaxed),
            hostname.replace(['/', ':'], "_"),
        );
        let mut message = Vec::with_capacity(body.len() + 64 * (recipients.len() + 1));
        message.extend_from_slice(format!("Return-Path: <{sender}>\r\n").as_bytes());
        for recipient in recipients {
            message.extend_from_slice(format!("X-Envelope-To: <{recipient}>\r\n").as_bytes());
        }
        message.extend_from_slice(body);
        let tmp = self.root.join("tmp").join(&name);
        tokio::fs::write(&tmp, &message).await?;
        if let Err(err) = tokio::fs::rename(&tmp, self.root.join("new").join(&name)).await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(err);
        }
        Ok(name)
    }
}
