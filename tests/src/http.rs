//! Just enough HTTP/1.1 to talk to a local server without dependencies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::Result;

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
pub fn send(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<Response> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).map_err(|e| e.to_string())?;
    // Read to the end of the body: some servers (Miniflare) keep the connection open despite
    // `Connection: close`, so EOF is only the fallback when there is no Content-Length.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
            let bodiless = head.split_whitespace().nth(1).is_some_and(|s| s == "204" || s == "304");
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .or(bodiless.then_some(0));
            if length.is_some_and(|n| raw.len() >= at + 4 + n) {
                break;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {head:.80}"))?;
    let headers =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))).collect();
    Ok(Response { status, headers, body: body.to_owned() })
}

/// Shorthand: a request with an optional bearer key; returns `(status, body)`.
pub fn request(addr: &str, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Result<(u16, String)> {
    let auth = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| vec![("Authorization", a)]).unwrap_or_default();
    send(addr, method, path, &headers, body).map(|r| (r.status, r.body))
}

/// A kept-alive HTTP/1.1 connection (what real API clients use), reconnecting when the server
/// closes it. Responses must carry `Content-Length`.
#[derive(Debug)]
pub struct Client {
    addr: String,
    conn: Option<std::io::BufReader<TcpStream>>,
}

impl Client {
    pub fn new(addr: &str) -> Self {
        Client { addr: addr.to_owned(), conn: None }
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<Response> {
        // One retry: a kept-alive connection may have been closed by the server meanwhile.
        match self.try_send(method, path, headers, body) {
            Ok(r) => Ok(r),
            Err(_) => {
                self.conn = None;
                self.try_send(method, path, headers, body)
            }
        }
    }

    fn try_send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Result<Response> {
        use std::io::BufRead;
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.addr).map_err(|e| format!("{}: {e}", self.addr))?;
            stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            self.conn = Some(std::io::BufReader::new(stream));
        }
        let conn = self.conn.as_mut().ok_or("no connection")?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        let body = body.unwrap_or("");
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()));
        head.push_str(body);
        conn.get_mut().write_all(head.as_bytes()).map_err(|e| e.to_string())?;
        let mut line = String::new();
        conn.read_line(&mut line).map_err(|e| e.to_string())?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP response: {line:.80}"))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            conn.read_line(&mut line).map_err(|e| e.to_string())?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let response = Response { status, headers, body: String::new() };
        let length: usize = response.header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut raw = vec![0; length];
        conn.read_exact(&mut raw).map_err(|e| e.to_string())?;
        if response.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            self.conn = None;
        }
        Ok(Response { body: String::from_utf8_lossy(&raw).into_owned(), ..response })
    }
}
