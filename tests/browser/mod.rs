//! A small Chrome DevTools Protocol client for the report tests: headless Chromium started with
//! `--remote-debugging-pipe` (the browser reads commands on fd 3 and writes replies and events
//! on fd 4, each message JSON ended by a NUL byte), one page target attached in flat mode.
//! Enough to set the viewport, load a page, evaluate a script, collect console errors and take
//! screenshots; every wait has a timeout, so a stuck browser fails the test instead of hanging.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The Chromium binary: $RELULAB_CHROMIUM, else the usual Debian paths.
pub fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RELULAB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// A running headless Chromium with one attached page.
pub struct Browser {
    child: Child,
    to_browser: std::io::PipeWriter,
    from_browser: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Events received so far (method and params), oldest first.
    pub events: Vec<Value>,
}

const WAIT: Duration = Duration::from_secs(60);

impl Browser {
    /// Start Chromium headless with a fresh profile in `profile` and attach to a blank page.
    pub fn launch(bin: &Path, profile: &Path) -> Result<Browser, String> {
        let (cmd_r, cmd_w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (ev_r, ev_w) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (fd_in, fd_out) = (cmd_r.as_raw_fd(), ev_w.as_raw_fd());
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls (fcntl, dup2). The pipe
        // ends are first moved above fd 10 so that dup2 onto 3 and 4 cannot clobber either;
        // dup2 clears close-on-exec on the copies, so fds 3 and 4 reach the browser.
        unsafe {
            cmd.pre_exec(move || {
                let a = libc::fcntl(fd_in, libc::F_DUPFD, 10);
                let b = libc::fcntl(fd_out, libc::F_DUPFD, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
        drop((cmd_r, ev_w));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut ev_r = ev_r;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1 << 16];
            loop {
                let n = match ev_r.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|&b| b == 0) {
                    let msg: Vec<u8> = buf.drain(..=end).collect();
                    if let Ok(v) = serde_json::from_slice::<Value>(&msg[..msg.len() - 1]) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        let mut b = Browser {
            child,
            to_browser: cmd_w,
            from_browser: rx,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
        };
        let target = b.call_browser("Target.createTarget", json!({"url": "about:blank"}))?;
        let id = target["targetId"]
            .as_str()
            .ok_or("no targetId")?
            .to_string();
        let att = b.call_browser(
            "Target.attachToTarget",
            json!({"targetId": id, "flatten": true}),
        )?;
        b.session = att["sessionId"].as_str().ok_or("no sessionId")?.to_string();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            b.call(domain, json!({}))?;
        }
        Ok(b)
    }

    fn send(&mut self, method: &str, params: Value, session: bool) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if session {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| e.to_string())?;
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .map_err(|e| format!("{method}: writing to the browser: {e}"))?;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_browser.recv_timeout(left) {
                Ok(v) if v["id"].as_u64() == Some(id) => {
                    return match v.get("error") {
                        Some(e) => Err(format!("{method}: {e}")),
                        None => Ok(v["result"].clone()),
                    };
                }
                Ok(v) => self.events.push(v),
                Err(RecvTimeoutError::Timeout) => return Err(format!("{method}: no answer")),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!("{method}: the browser went away"))
                }
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.send(method, params, false)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        self.send(method, params, true)
    }

    /// Wait for an event of the page named `method` (already received or still to come).
    pub fn wait_event(&mut self, method: &str) -> Result<Value, String> {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return Ok(self.events.remove(i));
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_browser.recv_timeout(left) {
                Ok(v) if v["method"] == method => return Ok(v),
                Ok(v) => self.events.push(v),
                Err(_) => return Err(format!("no {method} event")),
            }
        }
    }

    /// Set the viewport (CSS pixels, scale 1) and load `url`, waiting for the load event.
    pub fn load(&mut self, url: &str, width: u32, height: u32) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        self.events.retain(|e| e["method"] != "Page.loadEventFired");
        self.call("Page.navigate", json!({"url": url}))?;
        self.wait_event("Page.loadEventFired").map(|_| ())
    }

    /// Evaluate a script in the page and return its value (promises awaited).
    pub fn eval(&mut self, expr: &str) -> Result<Value, String> {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = r.get("exceptionDetails") {
            return Err(format!("script failed: {e}"));
        }
        Ok(r["result"]["value"].clone())
    }

    /// Console errors, uncaught exceptions and error log entries seen so far, as text.
    pub fn console_errors(&mut self) -> Vec<String> {
        // Let pending events arrive.
        while let Ok(v) = self.from_browser.recv_timeout(Duration::from_millis(200)) {
            self.events.push(v);
        }
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str()? {
                "Runtime.consoleAPICalled"
                    if matches!(e["params"]["type"].as_str(), Some("error" | "assert")) =>
                {
                    Some(format!("console: {}", e["params"]["args"]))
                }
                "Runtime.exceptionThrown" => {
                    Some(format!("exception: {}", e["params"]["exceptionDetails"]))
                }
                "Log.entryAdded" if e["params"]["entry"]["level"] == "error" => {
                    Some(format!("log: {}", e["params"]["entry"]["text"]))
                }
                _ => None,
            })
            .collect()
    }

    /// A PNG screenshot of the viewport, or of the whole page with `full_page`.
    pub fn screenshot(&mut self, full_page: bool) -> Result<Vec<u8>, String> {
        let mut params = json!({"format": "png"});
        if full_page {
            let size = self.eval(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]",
            )?;
            params["captureBeyondViewport"] = json!(true);
            params["clip"] =
                json!({"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1});
        }
        let r = self.call("Page.captureScreenshot", params)?;
        decode_base64(r["data"].as_str().ok_or("no screenshot data")?)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call_browser("Browser.close", json!({}));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (RFC 4648) to bytes; whitespace is not expected.
pub fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let val = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("bad base64 byte {c}")),
        } as u32)
    };
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return Err("base64 length is not a multiple of 4".into());
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for q in s.chunks(4) {
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for &c in &q[..4 - pad] {
            n = (n << 6) | val(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}
