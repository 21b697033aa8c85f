//! A cookie-keeping HTTP client that does not follow redirects, so tests
//! see each step of a sign-in the way a browser would take it.

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};

pub struct Browser {
    pub client: reqwest::Client,
    pub origin: String,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
    /// Attributes of each cookie set by the response, by name.
    pub set_cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(origin: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            origin: origin.to_string(),
            cookies: BTreeMap::new(),
        }
    }

    pub async fn get(&mut self, path_or_url: &str) -> Page {
        self.send(Method::GET, path_or_url, None).await
    }

    pub async fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded_pairs(fields);
        self.send(Method::POST, path, Some(body)).await
    }

    async fn send(&mut self, method: Method, path_or_url: &str, form: Option<String>) -> Page {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.origin)
        };
        let mut request = self.client.request(method, &url);
        if url.starts_with(&self.origin) && !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header(COOKIE, header.join("; "));
        }
        if let Some(form) = form {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        let mut set_cookies = BTreeMap::new();
        if url.starts_with(&self.origin) {
            for value in response.headers().get_all(SET_COOKIE) {
                let text = value.to_str().unwrap().to_string();
                let (pair, _) = text.split_once(';').unwrap_or((&text, ""));
                let (name, value) = pair.split_once('=').unwrap();
                if text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
                set_cookies.insert(name.to_string(), text.clone());
            }
        }
        let body = response.text().await.unwrap();
        Page {
            status,
            location,
            body,
            set_cookies,
        }
    }
}

/// Form-encodes `fields` (application/x-www-form-urlencoded).
fn serde_urlencoded_pairs(fields: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        out.append_pair(key, value);
    }
    out.finish()
}

/// Returns the `value` attribute of the hidden input named `name`.
pub fn hidden_field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {body}"))
        + marker.len();
    let end = body[start..].find('"').unwrap() + start;
    body[start..end].to_string()
}
