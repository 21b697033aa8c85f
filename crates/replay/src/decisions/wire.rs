//! The load generator's side of HTTP/1.1: one decision request written
//! straight into a buffer, and a response read back with `httparse`.
//!
//! The generator shares the server's two cores, so every microsecond it
//! spends per request is taken from the server. hyper's client needs a
//! task per connection and a channel between them; this module does only
//! what a keep-alive exchange of small JSON bodies needs. It expects what Lockgate
//! and the stand-in send: a `Content-Length` on every response. A
//! chunked response is reported as an error, not guessed at.

use std::io::Write;

use anyhow::{Context, bail};

/// Maximum number of headers read from a response. A response with more
/// is an error.
const MAX_HEADERS: usize = 32;

/// Writes a `POST` of `body` to `path` with a bearer token, as one
/// keep-alive HTTP/1.1 request.
pub fn encode_post(
    out: &mut Vec<u8>,
    path: &str,
    host: &str,
    bearer: &str,
    body: &[u8],
) -> std::io::Result<()> {
    write!(
        out,
        "POST {path} HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {bearer}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )?;
    out.extend_from_slice(body);
    Ok(())
}

/// A response read in full from the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// The body's byte range in the buffer.
    pub body: std::ops::Range<usize>,
    /// Bytes of the buffer the response took, head and body.
    pub length: usize,
    /// The server sent `Connection: close`, so it closes the connection
    /// after this response.
    pub close: bool,
}

/// Reads one response from the front of `buffer`. Returns `None` while
/// the head or the body is still incomplete.
pub fn parse_response(buffer: &[u8]) -> anyhow::Result<Option<Response>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buffer).with_context(|| {
        format!(
            "the server sent a response head that could not be read (at most {MAX_HEADERS} headers)"
        )
    })? {
        httparse::Status::Complete(head) => head,
        httparse::Status::Partial => return Ok(None),
    };
    let status = response.code.context("the response has no status code")?;
    let mut content_length = None;
    let mut close = false;
    for header in response.headers.iter() {
        if header.name.eq_ignore_ascii_case("connection") {
            close |= String::from_utf8_lossy(header.value)
                .split(',')
                .any(|option| option.trim().eq_ignore_ascii_case("close"));
        }
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("a response with Transfer-Encoding, which the load generator does not read");
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .and_then(|value| value.trim().parse::<usize>().ok())
                .with_context(|| {
                    format!(
                        "Content-Length {:?} is not a number",
                        String::from_utf8_lossy(header.value)
                    )
                })?;
            content_length = Some(value);
        }
    }
    let body_length = content_length.with_context(|| {
        format!("a {status} response without Content-Length, which the load generator needs")
    })?;
    let length = head + body_length;
    if buffer.len() < length {
        return Ok(None);
    }
    Ok(Some(Response {
        status,
        body: head..length,
        length,
        close,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_carries_length_and_token() {
        let mut out = Vec::new();
        encode_post(&mut out, "/d", "127.0.0.1:9", "tok", br#"{"a":1}"#).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("POST /d HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("authorization: Bearer tok\r\n"), "{text}");
        assert!(
            text.ends_with("content-length: 7\r\n\r\n{\"a\":1}"),
            "{text}"
        );

        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut request = httparse::Request::new(&mut headers);
        let head = request.parse(text.as_bytes()).unwrap().unwrap();
        assert_eq!(request.method, Some("POST"));
        assert_eq!(&text[head..], r#"{"a":1}"#);
    }

    #[test]
    fn response_waits_for_its_whole_body() {
        let full =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5\r\n\r\nhello";
        for cut in [10, full.len() - 5, full.len() - 1] {
            assert_eq!(parse_response(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
        let response = parse_response(full).unwrap().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(&full[response.body.clone()], b"hello");
        assert_eq!(response.length, full.len());
        assert!(!response.close);

        let closing =
            b"HTTP/1.1 503 Service Unavailable\r\nConnection: Close\r\ncontent-length: 0\r\n\r\n";
        let response = parse_response(closing).unwrap().unwrap();
        assert_eq!(response.status, 503);
        assert!(response.close);
    }

    #[test]
    fn response_without_length_fails() {
        let chunked =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        let error = parse_response(chunked).unwrap_err().to_string();
        assert!(error.contains("Transfer-Encoding"), "{error}");

        let bare = b"HTTP/1.1 429 Too Many Requests\r\n\r\n";
        let error = parse_response(bare).unwrap_err().to_string();
        assert!(
            error.contains("429") && error.contains("Content-Length"),
            "{error}"
        );

        let garbled = b"HTTP/1.1 200 OK\r\ncontent-length: five\r\n\r\n";
        let error = parse_response(garbled).unwrap_err().to_string();
        assert!(error.contains("five"), "{error}");
    }
}
