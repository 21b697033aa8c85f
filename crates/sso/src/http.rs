//! Outbound HTTP: timeouts, size limits, no redirects to other hosts, and
//! errors that name the host and status but never a token or secret.

use std::error::Error as _;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};
use reqwest::StatusCode;
use url::Url;

use crate::error::SsoError;

/// Limit for every request to the provider or to Graph, connect time included.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Larger than any discovery document, JWKS or token response. A Graph
/// `getMemberObjects` page with 11,000 ids, the documented maximum of
/// `getMemberGroups`, is about 450 KB.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Maximum number of same-origin redirects followed.
const MAX_REDIRECTS: usize = 3;

/// Builds the HTTP client that [`RelyingParty::discover`](crate::RelyingParty::discover)
/// expects: 10 s timeouts and no redirect to another scheme, host or port.
///
/// A redirect to another origin is returned unfollowed and then reported as
/// an error, so a token request and its client secret never leave the
/// provider's host.
pub fn http_client() -> Result<reqwest::Client, SsoError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|previous| previous.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .connect_timeout(HTTP_TIMEOUT)
        .redirect(policy)
        .user_agent(concat!("lockgate-sso/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|error| SsoError::InvalidConfig {
            field: "http client",
            problem: format!("could not be built: {}", innermost_message(&error)),
        })
}

/// Failure of one HTTP exchange. The message has the host and status only.
#[derive(Debug, Clone)]
pub(crate) struct HttpError {
    pub host: String,
    pub status: Option<u16>,
    pub problem: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request to {} failed: {}", self.host, self.problem)
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for SsoError {
    fn from(error: HttpError) -> SsoError {
        SsoError::Http {
            host: error.host,
            status: error.status,
            problem: error.problem,
        }
    }
}

/// A response whose body was read within [`MAX_RESPONSE_BYTES`].
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Returns `host` or `host:port`, the part of a URL that errors may show.
pub(crate) fn host_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or("unknown host");
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Sends a request with the timeout and reads the body. A redirect that the
/// client did not follow, or one that ended on another origin, is an error.
pub(crate) async fn send(
    client: &reqwest::Client,
    mut request: reqwest::Request,
) -> Result<Fetched, HttpError> {
    let target = request.url().clone();
    let host = host_of(&target);
    *request.timeout_mut() = Some(HTTP_TIMEOUT);

    let mut response = client.execute(request).await.map_err(|error| HttpError {
        host: host.clone(),
        status: None,
        problem: describe_reqwest_error(&error),
    })?;

    let status = response.status();
    // A caller-supplied client may follow redirects, so a response from
    // another origin is rejected here.
    if response.url().origin() != target.origin() {
        return Err(HttpError {
            host,
            status: Some(status.as_u16()),
            problem: format!(
                "it was redirected to {}; redirects to another host are refused",
                host_of(response.url())
            ),
        });
    }
    if status.is_redirection() {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| target.join(value).ok())
            .map(|url| host_of(&url))
            .unwrap_or_else(|| "an unknown location".to_string());
        return Err(HttpError {
            host,
            status: Some(status.as_u16()),
            problem: format!(
                "HTTP {status} redirects to {location}; redirects to another host are refused"
            ),
        });
    }

    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|error| HttpError {
            host: host.clone(),
            status: Some(status.as_u16()),
            problem: describe_reqwest_error(&error),
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError {
                host,
                status: Some(status.as_u16()),
                problem: format!("the response is larger than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }

    Ok(Fetched {
        status,
        headers: response.headers().clone(),
        body,
    })
}

/// Sends a request and parses a `200 OK` JSON body.
pub(crate) async fn send_for_json(
    client: &reqwest::Client,
    request: reqwest::Request,
) -> Result<serde_json::Value, HttpError> {
    let host = host_of(request.url());
    let fetched = send(client, request).await?;
    if fetched.status != StatusCode::OK {
        return Err(HttpError {
            host,
            status: Some(fetched.status.as_u16()),
            problem: format!("HTTP {}", fetched.status),
        });
    }
    serde_json::from_slice(&fetched.body).map_err(|error| HttpError {
        host,
        status: Some(fetched.status.as_u16()),
        problem: format!("the response is not valid JSON ({error})"),
    })
}

/// Fetches a JSON document with GET.
pub(crate) async fn get_json(
    client: &reqwest::Client,
    url: &Url,
) -> Result<serde_json::Value, HttpError> {
    let request = client.get(url.clone()).build().map_err(|error| HttpError {
        host: host_of(url),
        status: None,
        problem: describe_reqwest_error(&error),
    })?;
    send_for_json(client, request).await
}

/// Adapter that lets openidconnect send token requests through [`send`].
#[derive(Clone)]
pub(crate) struct Transport {
    pub client: reqwest::Client,
}

impl<'c> AsyncHttpClient<'c> for Transport {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let host = Url::parse(&request.uri().to_string())
                .map(|url| host_of(&url))
                .unwrap_or_else(|_| "the token endpoint".to_string());
            let request = reqwest::Request::try_from(request).map_err(|error| HttpError {
                host: host.clone(),
                status: None,
                problem: describe_reqwest_error(&error),
            })?;
            let fetched = send(&self.client, request).await?;

            // RFC 6749 §5.2 error bodies go on to openidconnect, which parses
            // them. Any other failure, such as a 503 page, is reported here
            // with its status, because openidconnect would only call it an
            // unparsable body.
            if fetched.status != StatusCode::OK && !is_oauth_error_body(&fetched.body) {
                return Err(HttpError {
                    host,
                    status: Some(fetched.status.as_u16()),
                    problem: format!("HTTP {}", fetched.status),
                });
            }

            let mut builder = openidconnect::http::Response::builder().status(fetched.status);
            for (name, value) in &fetched.headers {
                builder = builder.header(name, value);
            }
            builder.body(fetched.body).map_err(|error| HttpError {
                host,
                status: Some(fetched.status.as_u16()),
                problem: format!("the response could not be read ({error})"),
            })
        })
    }
}

fn is_oauth_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| value.get("error").map(serde_json::Value::is_string))
        .unwrap_or(false)
}

fn describe_reqwest_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("timed out after {} s", HTTP_TIMEOUT.as_secs())
    } else if error.is_connect() {
        format!("could not connect ({})", innermost_message(error))
    } else {
        innermost_message(error)
    }
}

/// Returns the message of the deepest source, which names the cause (for
/// example "Connection refused") without the request URL.
fn innermost_message(error: &reqwest::Error) -> String {
    let mut message = if error.is_builder() {
        "the request could not be built".to_string()
    } else if error.is_body() || error.is_decode() {
        "the response body could not be read".to_string()
    } else {
        "the request failed".to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    message
}
