//! Delivery into a Maildir: each message is written to `tmp/`, then renamed into
//! `new/`, so a reader never sees a partial file.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

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
    /// `X-Envelope-To:` line per recipient, then `body` exactly as received, without
    /// copying it (the body is written from the frame itself, on the blocking pool).
    /// Returns the file's name.
    pub async fn deliver(
        &self,
        hostname: &str,
        sender: &str,
        recipients: &[String],
        body: Bytes,
    ) -> io::Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!(
            "{}.M{:06}P{}Q{}.{}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            DELIVERED.fetch_add(1, Ordering::Relaxed),
            hostname.replace(['/', ':'], "_"),
        );
        let mut headers = format!("Return-Path: <{sender}>\r\n");
        for recipient in recipients {
            headers.push_str(&format!("X-Envelope-To: <{recipient}>\r\n"));
        }
        let tmp = self.root.join("tmp").join(&name);
        let new = self.root.join("new").join(&name);
        let written = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            let result = file
                .write_all(headers.as_bytes())
                .and_then(|()| file.write_all(&body))
                .and_then(|()| std::fs::rename(&tmp, &new));
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        })
        .await;
        written.map_err(io::Error::other)??;
        Ok(name)
    }
}
