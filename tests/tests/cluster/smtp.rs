//! The cluster's SMTP server: accepts every mail and keeps it; switched to *stalling*, it
//! accepts connections and then says nothing for 30 s (a mail relay that hangs).

use crate::support::{Mail, parse_mail};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub struct Smtp {
    pub port: u16,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    pub stall: Arc<AtomicBool>,
    /// Connections accepted, or commands received, while stalling.
    pub stalled: Arc<AtomicUsize>,
}

impl Smtp {
    pub async fn start() -> Smtp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("smtp port");
        let port = listener.local_addr().expect("smtp addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stall = Arc::new(AtomicBool::new(false));
        let stalled = Arc::new(AtomicUsize::new(0));
        let (store, st, sc) = (received.clone(), stall.clone(), stalled.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let store = store.clone();
                if st.load(Ordering::Relaxed) {
                    sc.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(sock);
                    });
                    continue;
                }
                tokio::spawn(session(sock, store, st.clone(), sc.clone()));
            }
        });
        Smtp {
            port,
            received,
            stall,
            stalled,
        }
    }

    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|m| parse_mail(m))
            .filter(|m| m.to == to)
            .collect()
    }

    /// Waits until `to` has more than `seen` mails; returns the newest.
    pub async fn wait_new(&self, to: &str, seen: usize, within: Duration) -> Option<Mail> {
        let t = std::time::Instant::now();
        while t.elapsed() < within {
            let m = self.mails_to(to);
            if m.len() > seen {
                return m.last().cloned();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Vec<u8>>>>,
    stall: Arc<AtomicBool>,
    stalled: Arc<AtomicUsize>,
) {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r);
    let _ = w.write_all(b"220 cluster ESMTP\r\n").await;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        // A pooled connection opened before the switch hangs too (the client reuses it).
        if stall.load(Ordering::Relaxed) {
            stalled.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        let cmd = line.trim_end().to_ascii_uppercase();
        let reply: &[u8] = if cmd.starts_with("EHLO") {
            b"250-cluster\r\n250 8BITMIME\r\n"
        } else if ["HELO", "MAIL", "RCPT", "RSET", "NOOP"]
            .iter()
            .any(|c| cmd.starts_with(c))
        {
            b"250 ok\r\n"
        } else if cmd.starts_with("DATA") {
            let _ = w.write_all(b"354 go on\r\n").await;
            let mut data = Vec::new();
            loop {
                let mut l = String::new();
                if lines.read_line(&mut l).await.unwrap_or(0) == 0 {
                    return;
                }
                if l == ".\r\n" || l == ".\n" {
                    break;
                }
                let l = l.strip_prefix('.').unwrap_or(&l);
                data.extend_from_slice(l.as_bytes());
            }
            store.lock().unwrap().push(data);
            b"250 queued\r\n"
        } else if cmd.starts_with("QUIT") {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"502 not implemented\r\n"
        };
        let _ = w.write_all(reply).await;
    }
}
