//! An in-process fake of Microsoft Entra ID on 127.0.0.1.
//!
//! It serves discovery documents in Entra's shape and a JWKS whose keys have
//! no `alg` and carry an `issuer` member. It runs the authorize and token
//! endpoints of the v2.0 code flow with PKCE and client credentials, and a
//! Microsoft Graph `getMemberObjects` stub. Counters let tests assert how
//! often each endpoint was called.
//!
//! Three listeners run per fake: `login` (the Entra host), `graph` (the
//! Graph host) and `elsewhere`, which stands for any other host that must
//! never be contacted and counts every request it gets.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use lockgate_sso::{
    AuthorizeOptions, ClientCertificate, ClientSecret, ConnectionConfig, PendingLogin,
    RelyingParty, SignIn, SsoError,
};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use url::Url;

/// Home tenant of the locker deployment.
pub const TID_A: &str = "7f0c3e2a-1b4d-4c8e-9a51-2d6b0e9f4a11";
/// A foreign tenant.
pub const TID_B: &str = "c4e1d2b3-5a6f-4e70-8b19-3f2a1c0d9e22";
/// Tenant of personal Microsoft accounts.
pub const PERSONAL_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// Client ID of the locker app registration.
pub const CID: &str = "3c9d6a1e-8f42-4b7a-a0d5-6e1f2b3c4d55";
/// Client ID of a second app registration, for the `sub` migration case.
pub const OTHER_CID: &str = "8e7d6c5b-4a39-4281-9f0e-1d2c3b4a5968";
/// The `~` checks that client_secret_basic credentials are form-decoded.
pub const CLIENT_SECRET: &str = "test-secret.not-real~1";
/// The certificate registered as the app's credential, and its key.
pub const CLIENT_CERTIFICATE: &str = include_str!("keys/client.crt");
pub const CLIENT_PRIVATE_KEY: &str = include_str!("keys/client.pem");
pub const OID_ADA: &str = "e8a4b2c6-0d1f-4a3b-9c5e-7f6a8b9c0d66";
pub const GID_ADM: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
pub const GID_HQ: &str = "1b2c3d4e-5f60-4b7c-9d8e-0f1a2b3c4d5e";

/// Test signing keys. Their `kid` is the SHA-1 thumbprint of the
/// certificate, base64url-encoded, the same value Entra publishes as both
/// `kid` and `x5t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TestKey {
    A,
    B,
    /// Never published: signs forgeries.
    Forged,
}

impl TestKey {
    pub fn kid(self) -> &'static str {
        match self {
            TestKey::A => "YK37HVLJE_IUFkRjwV5ugHZzies",
            TestKey::B => "qn7ALnCvwROqHUnXhZ-KgI7P__k",
            TestKey::Forged => "POhVeO-CNvmP3It8JMXG-Ko1JuA",
        }
    }

    fn files(self) -> (&'static str, &'static str) {
        match self {
            TestKey::A => (
                include_str!("keys/key-a.pem"),
                include_str!("keys/key-a.crt"),
            ),
            TestKey::B => (
                include_str!("keys/key-b.pem"),
                include_str!("keys/key-b.crt"),
            ),
            TestKey::Forged => (
                include_str!("keys/key-forged.pem"),
                include_str!("keys/key-forged.crt"),
            ),
        }
    }
}

struct KeyMaterial {
    private: RsaPrivateKey,
    modulus: String,
    exponent: String,
    certificate: String,
}

/// Parses the PEM files once per test binary; RSA parsing is slow in debug builds.
fn key_material(key: TestKey) -> &'static KeyMaterial {
    static KEYS: OnceLock<HashMap<TestKey, KeyMaterial>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        [TestKey::A, TestKey::B, TestKey::Forged]
            .into_iter()
            .map(|key| {
                let (pem, certificate) = key.files();
                let private = RsaPrivateKey::from_pkcs8_pem(pem).expect("test key parses");
                let modulus = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
                let exponent = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
                // The base64 body of a PEM certificate is the DER that `x5c` carries.
                let certificate = certificate
                    .lines()
                    .filter(|line| !line.starts_with("-----"))
                    .collect::<String>();
                let material = KeyMaterial {
                    private,
                    modulus,
                    exponent,
                    certificate,
                };
                (key, material)
            })
            .collect()
    });
    &keys[&key]
}

/// Response mode of the Graph stub.
#[derive(Clone, Debug)]
pub enum GraphMode {
    /// Member ids, split into pages linked by `@odata.nextLink` on the Graph host.
    Members { ids: Vec<String>, page_size: usize },
    /// 503 Service Unavailable.
    Unavailable,
    /// One page whose `@odata.nextLink` points at the `elsewhere` host.
    NextLinkElsewhere,
}

#[derive(Clone, Debug)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
    claims: Option<String>,
    redeemed: bool,
}

/// One request to the token endpoint.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub grant_type: String,
    /// `client_secret_post`, `client_secret_basic` or `private_key_jwt`.
    pub client_auth: String,
    /// The tenant segment of the token endpoint path.
    pub tenant: String,
    pub scope: Option<String>,
    pub code_verifier: Option<String>,
}

struct Inner {
    /// Keys in the JWKS when no planned response is left.
    published: Vec<TestKey>,
    /// Key lists for the next JWKS responses, one per fetch.
    jwks_plan: VecDeque<Vec<TestKey>>,
    jwks_failing: bool,
    jwks_fetches: usize,
    /// Members replaced in every discovery document; `null` removes one.
    document_changes: Value,
    discovery_redirects_elsewhere: bool,
    codes: HashMap<String, Grant>,
    issued_codes: u64,
    authorize_requests: Vec<HashMap<String, String>>,
    token_requests: Vec<TokenRequest>,
    /// `jti` of every client assertion seen.
    assertion_ids: HashSet<String>,
    /// Claim changes for ID tokens from the token endpoint; `null` removes one.
    id_token_changes: Value,
    /// Whether Conditional Access grants a requested authentication context.
    satisfy_auth_context: bool,
    app_tokens: Vec<String>,
    graph_mode: GraphMode,
    graph_requests: usize,
    graph_bodies: Vec<Value>,
    elsewhere_requests: usize,
}

struct Shared {
    login: String,
    graph: String,
    elsewhere: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// A running fake. Dropping it leaves the listeners to the test's runtime,
/// which stops them at the end of the test.
pub struct FakeEntra {
    pub login: Url,
    pub graph: Url,
    pub elsewhere: Url,
    shared: Arc<Shared>,
}

impl FakeEntra {
    pub async fn start() -> FakeEntra {
        let login_listener = bind().await;
        let graph_listener = bind().await;
        let elsewhere_listener = bind().await;
        let login = base_url(&login_listener);
        let graph = base_url(&graph_listener);
        let elsewhere = base_url(&elsewhere_listener);

        let shared = Arc::new(Shared {
            login: login.clone(),
            graph: graph.clone(),
            elsewhere: elsewhere.clone(),
            inner: Mutex::new(Inner {
                published: vec![TestKey::A, TestKey::B],
                jwks_plan: VecDeque::new(),
                jwks_failing: false,
                jwks_fetches: 0,
                document_changes: json!({}),
                discovery_redirects_elsewhere: false,
                codes: HashMap::new(),
                issued_codes: 0,
                authorize_requests: Vec::new(),
                token_requests: Vec::new(),
                assertion_ids: HashSet::new(),
                id_token_changes: json!({}),
                satisfy_auth_context: true,
                app_tokens: Vec::new(),
                graph_mode: GraphMode::Members {
                    ids: vec![GID_ADM.to_string(), GID_HQ.to_string()],
                    page_size: 100,
                },
                graph_requests: 0,
                graph_bodies: Vec::new(),
                elsewhere_requests: 0,
            }),
        });

        let login_routes = Router::new()
            .route(
                "/{tenant}/v2.0/.well-known/openid-configuration",
                get(discovery_document),
            )
            .route("/{tenant}/discovery/v2.0/keys", get(jwks))
            .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .route("/app/callback", get(|| async { "signed in" }))
            .with_state(shared.clone());
        let graph_routes = Router::new()
            .route(
                "/v1.0/users/{oid}/getMemberObjects",
                post(member_objects).get(member_objects_page),
            )
            .with_state(shared.clone());
        let elsewhere_routes = Router::new()
            .fallback(any(elsewhere_handler))
            .with_state(shared.clone());

        serve(login_listener, login_routes);
        serve(graph_listener, graph_routes);
        serve(elsewhere_listener, elsewhere_routes);

        FakeEntra {
            login: Url::parse(&login).unwrap(),
            graph: Url::parse(&graph).unwrap(),
            elsewhere: Url::parse(&elsewhere).unwrap(),
            shared,
        }
    }

    /// `{login}/{tenant}/v2.0`, the authority and issuer form of Entra v2.0.
    pub fn authority(&self, tenant: &str) -> Url {
        Url::parse(&self.issuer(tenant)).unwrap()
    }

    pub fn issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.shared.login)
    }

    /// [`config`](Self::config) with the registered certificate instead of the secret.
    pub fn certificate_config(&self, tenant: &str) -> ConnectionConfig {
        let mut config = self.config(tenant);
        config.credential = ClientCertificate::from_pem(CLIENT_CERTIFICATE, CLIENT_PRIVATE_KEY)
            .unwrap()
            .into();
        config
    }

    /// Single-tenant configuration for `tenant`, allowing TID_A, with Graph on the fake.
    pub fn config(&self, tenant: &str) -> ConnectionConfig {
        let mut config = ConnectionConfig::new(
            self.authority(tenant),
            CID,
            ClientSecret::new(CLIENT_SECRET),
            vec![TID_A.to_string()],
            self.login.join("/app/callback").unwrap(),
        );
        config.graph_base_url = self.graph.clone();
        config
    }

    /// Multi-tenant configuration at `tenant` (`organizations` or `common`).
    pub fn multi_tenant_config(&self, tenant: &str, allowed: &[&str]) -> ConnectionConfig {
        let mut config = self.config(tenant);
        config.multi_tenant = true;
        config.allowed_tenants = allowed.iter().map(|tid| tid.to_string()).collect();
        config
    }

    pub async fn discover(&self, config: ConnectionConfig) -> Result<RelyingParty, SsoError> {
        RelyingParty::discover(config, lockgate_sso::http_client().unwrap()).await
    }

    /// Discovers the single-tenant relying party of TID_A.
    pub async fn relying_party(&self) -> RelyingParty {
        self.discover(self.config(TID_A)).await.unwrap()
    }

    /// Claims of a v2.0 ID token for Ada in TID_A, shaped like Entra's, with
    /// `iat` and `nbf` back-dated five minutes as Entra does.
    pub fn ada_claims(&self, nonce: &str) -> Value {
        ada_claims(&self.shared.login, nonce)
    }

    /// Ada's claims with `changes` applied, signed with key A.
    pub fn id_token(&self, nonce: &str, changes: Value) -> String {
        let mut claims = self.ada_claims(nonce);
        apply_changes(&mut claims, &changes);
        sign(&default_header(TestKey::A), &claims, TestKey::A)
    }

    /// Signs `claims` with `key` under `header` (RS256 over the compact form).
    pub fn sign(&self, header: &Value, claims: &Value, key: TestKey) -> String {
        sign(header, claims, key)
    }

    /// Returns the header Entra puts on ID tokens, with the kid of `key`.
    pub fn header(&self, key: TestKey) -> Value {
        default_header(key)
    }

    /// Sends the browser to the authorize endpoint without following the
    /// redirect and returns the callback URL it points at.
    pub async fn follow_authorize(&self, authorize_url: &Url) -> Url {
        let browser = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let response = browser.get(authorize_url.clone()).send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::FOUND,
            "authorize must redirect"
        );
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        Url::parse(location).unwrap()
    }

    /// Runs authorize, the browser redirect and the state check, then `complete`.
    pub async fn sign_in(
        &self,
        rp: &RelyingParty,
        options: AuthorizeOptions,
    ) -> (Result<SignIn, SsoError>, PendingLogin, String) {
        let (url, pending) = rp.authorize(options);
        let callback = self.follow_authorize(&url).await;
        let code = query_value(&callback, "code").expect("the callback has a code");
        let state = query_value(&callback, "state").expect("the callback has a state");
        pending.check_state(&state).unwrap();
        let result = rp.complete(&code, &pending).await;
        (result, pending, code)
    }

    /// Queues the key lists of the next JWKS responses, one per fetch.
    pub fn plan_jwks(&self, responses: &[&[TestKey]]) {
        self.shared.lock().jwks_plan = responses.iter().map(|keys| keys.to_vec()).collect();
    }

    pub fn set_jwks_failing(&self, failing: bool) {
        self.shared.lock().jwks_failing = failing;
    }

    pub fn jwks_fetches(&self) -> usize {
        self.shared.lock().jwks_fetches
    }

    /// Replaces members of every discovery document; `null` removes a member.
    pub fn change_discovery(&self, changes: Value) {
        self.shared.lock().document_changes = changes;
    }

    pub fn redirect_discovery_elsewhere(&self) {
        self.shared.lock().discovery_redirects_elsewhere = true;
    }

    /// Claim changes for ID tokens the token endpoint issues.
    pub fn change_issued_id_tokens(&self, changes: Value) {
        self.shared.lock().id_token_changes = changes;
    }

    pub fn set_satisfy_auth_context(&self, satisfy: bool) {
        self.shared.lock().satisfy_auth_context = satisfy;
    }

    pub fn set_graph(&self, mode: GraphMode) {
        self.shared.lock().graph_mode = mode;
    }

    pub fn graph_requests(&self) -> usize {
        self.shared.lock().graph_requests
    }

    pub fn graph_bodies(&self) -> Vec<Value> {
        self.shared.lock().graph_bodies.clone()
    }

    pub fn elsewhere_requests(&self) -> usize {
        self.shared.lock().elsewhere_requests
    }

    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.shared.lock().authorize_requests.clone()
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.lock().token_requests.clone()
    }
}

pub fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Applies `changes` to a JSON object: `null` removes a member, anything
/// else replaces it.
pub fn apply_changes(target: &mut Value, changes: &Value) {
    let target = target.as_object_mut().expect("a JSON object");
    for (name, value) in changes.as_object().expect("changes are a JSON object") {
        if value.is_null() {
            target.remove(name);
        } else {
            target.insert(name.clone(), value.clone());
        }
    }
}

/// HMAC-SHA256 (RFC 2104), for forging an HS256 token with the client secret.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block_key.iter().map(|byte| byte ^ 0x36).collect();
    let outer_pad: Vec<u8> = block_key.iter().map(|byte| byte ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .to_vec()
}

pub fn encode_segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn default_header(key: TestKey) -> Value {
    json!({ "typ": "JWT", "alg": "RS256", "kid": key.kid() })
}

fn sign(header: &Value, claims: &Value, key: TestKey) -> String {
    let input = format!("{}.{}", encode_segment(header), encode_segment(claims));
    let signer = SigningKey::<Sha256>::new(key_material(key).private.clone());
    let signature = signer.sign(input.as_bytes()).to_vec();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn ada_claims(login: &str, nonce: &str) -> Value {
    let now = now();
    json!({
        "aud": CID,
        "iss": format!("{login}/{TID_A}/v2.0"),
        "iat": now - 300,
        "nbf": now - 300,
        "exp": now + 3600,
        "aio": "AWQAm/8ZAAAAopaqueExampleValue",
        "groups": [GID_ADM, GID_HQ],
        "login_hint": "O.CiRlOGE0YjJjNi1vcGFxdWUtbG9naW4taGludA",
        "name": "Ada Example",
        "nonce": nonce,
        "oid": OID_ADA,
        "preferred_username": "ada.example@contoso.example",
        "rh": "1.AQkAopaqueExampleValue.",
        "roles": ["Locker.Admin"],
        "sid": "5e6f7a8b-0000-4c1d-9e2f-3a4b5c6d7e8f",
        "sub": "Jq4c0yPairwiseExampleValue_8s",
        "tid": TID_A,
        "uti": "q1w2e3r4t5y6u7i8o9p0",
        "ver": "2.0"
    })
}

async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()
}

fn base_url(listener: &tokio::net::TcpListener) -> String {
    format!("http://{}", listener.local_addr().unwrap())
}

fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Builds an error body in Entra's form (RFC 6749 §5.2 plus `error_codes`).
fn oauth_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {description}"),
        "error_codes": [code],
        "trace_id": "00000000-0000-0000-0000-000000000000",
        "correlation_id": "00000000-0000-0000-0000-000000000000"
    });
    json_response(status, body.to_string())
}

/// Returns the tenant for endpoint paths and the tenant for the issuer, as
/// Entra resolves the path segment.
fn resolve_tenant(path_tenant: &str) -> (String, String) {
    match path_tenant {
        "organizations" | "common" => (path_tenant.to_string(), "{tenantid}".to_string()),
        "consumers" => (path_tenant.to_string(), PERSONAL_TENANT.to_string()),
        // A verified domain name resolves to the tenant GUID.
        domain if domain.contains('.') => (TID_A.to_string(), TID_A.to_string()),
        guid => (guid.to_string(), guid.to_string()),
    }
}

/// Entra's v2.0 discovery document, member for member and in Entra's order,
/// with the login host replaced by the fake's. The multi-tenant documents
/// publish the literal `{tenantid}` template and a null region.
async fn discovery_document(
    State(shared): State<Arc<Shared>>,
    Path(path_tenant): Path<String>,
) -> Response {
    let (redirect, changes) = {
        let inner = shared.lock();
        (
            inner.discovery_redirects_elsewhere,
            inner.document_changes.clone(),
        )
    };
    if redirect {
        let location = format!(
            "{}/{path_tenant}/v2.0/.well-known/openid-configuration",
            shared.elsewhere
        );
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }

    let login = &shared.login;
    let graph = &shared.graph;
    let (tenant, issuer_tenant) = resolve_tenant(&path_tenant);
    let region = if issuer_tenant == "{tenantid}" {
        "null".to_string()
    } else {
        "\"EU\"".to_string()
    };
    let document = format!(
        r#"{{"token_endpoint":"{login}/{tenant}/oauth2/v2.0/token","token_endpoint_auth_methods_supported":["client_secret_post","private_key_jwt","client_secret_basic"],"jwks_uri":"{login}/{tenant}/discovery/v2.0/keys","response_modes_supported":["query","fragment","form_post"],"subject_types_supported":["pairwise"],"id_token_signing_alg_values_supported":["RS256"],"response_types_supported":["code","id_token","code id_token","id_token token"],"scopes_supported":["openid","profile","email","offline_access"],"issuer":"{login}/{issuer_tenant}/v2.0","request_uri_parameter_supported":false,"userinfo_endpoint":"{graph}/oidc/userinfo","authorization_endpoint":"{login}/{tenant}/oauth2/v2.0/authorize","device_authorization_endpoint":"{login}/{tenant}/oauth2/v2.0/devicecode","http_logout_supported":true,"frontchannel_logout_supported":true,"end_session_endpoint":"{login}/{tenant}/oauth2/v2.0/logout","claims_supported":["sub","iss","cloud_instance_name","cloud_instance_host_name","cloud_graph_host_name","msgraph_host","aud","exp","iat","auth_time","acr","nonce","preferred_username","name","tid","ver","at_hash","c_hash","email"],"kerberos_endpoint":"{login}/{tenant}/kerberos","tenant_region_scope":{region},"cloud_instance_name":"microsoftonline.com","cloud_graph_host_name":"graph.windows.net","msgraph_host":"graph.microsoft.com","rbac_url":"https://pas.windows.net"}}"#
    );

    let has_changes = changes.as_object().is_some_and(|map| !map.is_empty());
    let body = if has_changes {
        let mut value: Value = serde_json::from_str(&document).unwrap();
        apply_changes(&mut value, &changes);
        value.to_string()
    } else {
        document
    };
    json_response(StatusCode::OK, body)
}

/// Entra's JWKS: `kty`, `use`, `kid`, `x5t`, `n`, `e`, `x5c`,
/// `cloud_instance_name` and `issuer`, and no `alg`.
async fn jwks(State(shared): State<Arc<Shared>>, Path(path_tenant): Path<String>) -> Response {
    let keys = {
        let mut inner = shared.lock();
        inner.jwks_fetches += 1;
        if inner.jwks_failing {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":"server_error"}"#.to_string(),
            );
        }
        let planned = inner.jwks_plan.pop_front();
        planned.unwrap_or_else(|| inner.published.clone())
    };

    let (_, issuer_tenant) = resolve_tenant(&path_tenant);
    let issuer = format!("{}/{issuer_tenant}/v2.0", shared.login);
    let entries: Vec<Value> = keys
        .iter()
        .map(|key| {
            let material = key_material(*key);
            json!({
                "kty": "RSA",
                "use": "sig",
                "kid": key.kid(),
                "x5t": key.kid(),
                "n": material.modulus,
                "e": material.exponent,
                "x5c": [material.certificate],
                "cloud_instance_name": "microsoftonline.com",
                "issuer": issuer
            })
        })
        .collect();
    json_response(StatusCode::OK, json!({ "keys": entries }).to_string())
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut inner = shared.lock();
    inner.authorize_requests.push(query.clone());

    let client_id = query.get("client_id").cloned().unwrap_or_default();
    if client_id != CID && client_id != OTHER_CID {
        return (StatusCode::BAD_REQUEST, "AADSTS700016: unknown application").into_response();
    }
    if query.get("response_type").map(String::as_str) != Some("code") {
        return (
            StatusCode::BAD_REQUEST,
            "AADSTS900144: response_type must be code",
        )
            .into_response();
    }
    let Some(redirect_uri) = query.get("redirect_uri").cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            "AADSTS900144: redirect_uri is missing",
        )
            .into_response();
    };

    inner.issued_codes += 1;
    let code = format!("1.AQkA-code-{}-{}", inner.issued_codes, now());
    inner.codes.insert(
        code.clone(),
        Grant {
            client_id,
            redirect_uri: redirect_uri.clone(),
            code_challenge: query.get("code_challenge").cloned(),
            code_challenge_method: query.get("code_challenge_method").cloned(),
            nonce: query.get("nonce").cloned(),
            claims: query.get("claims").cloned(),
            redeemed: false,
        },
    );

    let mut callback = Url::parse(&redirect_uri).unwrap();
    {
        let mut pairs = callback.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = query.get("state") {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("session_state", "00000000-0000-0000-0000-00000000c0de");
    }
    (
        StatusCode::FOUND,
        [(header::LOCATION, callback.to_string())],
    )
        .into_response()
}

/// Returns the client ID and the authentication method, or `None` for
/// unknown clients, wrong secrets and bad client assertions.
fn authenticate_client(
    shared: &Shared,
    path_tenant: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Option<(String, String)> {
    if form.contains_key("client_assertion") || form.contains_key("client_assertion_type") {
        let token_endpoint = format!("{}/{path_tenant}/oauth2/v2.0/token", shared.login);
        return check_client_assertion(shared, &token_endpoint, form)
            .map(|client_id| (client_id, "private_key_jwt".to_string()));
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    let (client_id, secret, method) = if let Some(encoded) = basic {
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        let (id, secret) = decoded.split_once(':').unwrap();
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let decode = |part: &str| {
            url::form_urlencoded::parse(part.as_bytes())
                .next()
                .map(|(key, _)| key.into_owned())
                .unwrap_or_default()
        };
        (decode(id), decode(secret), "client_secret_basic")
    } else {
        (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
            "client_secret_post",
        )
    };

    let known = (client_id == CID || client_id == OTHER_CID) && secret == CLIENT_SECRET;
    known.then(|| (client_id, method.to_string()))
}

/// Checks a `private_key_jwt` client assertion as Entra does: signed with
/// the registered certificate's key (PS256 or RS256), `x5t#S256` naming that
/// certificate, `aud` the token endpoint, `iss` and `sub` the client id, not
/// expired and not used before. Returns the client id.
fn check_client_assertion(
    shared: &Shared,
    token_endpoint: &str,
    form: &HashMap<String, String>,
) -> Option<String> {
    if form.get("client_assertion_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        || form.contains_key("client_secret")
    {
        return None;
    }

    let assertion = form.get("client_assertion")?;
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header_part, claims_part, signature_part] = parts[..] else {
        return None;
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };

    let header = decode(header_part)?;
    let claims = decode(claims_part)?;
    let (public_key, thumbprint) = registered_client_certificate();
    if header["x5t#S256"].as_str() != Some(thumbprint.as_str()) {
        return None;
    }

    let signing_input = format!("{header_part}.{claims_part}");
    let signature = URL_SAFE_NO_PAD.decode(signature_part).ok()?;
    let verified = match header["alg"].as_str()? {
        "PS256" => rsa::pss::VerifyingKey::<Sha256>::new(public_key.clone())
            .verify(
                signing_input.as_bytes(),
                &rsa::pss::Signature::try_from(signature.as_slice()).ok()?,
            )
            .is_ok(),
        "RS256" => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public_key.clone())
            .verify(
                signing_input.as_bytes(),
                &rsa::pkcs1v15::Signature::try_from(signature.as_slice()).ok()?,
            )
            .is_ok(),
        _ => false,
    };

    let client_id = claims["iss"].as_str()?.to_string();
    let fresh = claims["exp"].as_i64()? > now() && claims["nbf"].as_i64()? <= now() + 300;
    let jti = claims["jti"].as_str()?.to_string();
    let valid = verified
        && fresh
        && claims["aud"].as_str() == Some(token_endpoint)
        && claims["sub"].as_str() == Some(client_id.as_str())
        && form.get("client_id").is_none_or(|id| *id == client_id)
        && (client_id == CID || client_id == OTHER_CID);

    // A replayed assertion is rejected: RFC 7523 §3 lets the server keep
    // each `jti` single-use.
    let unused = shared.lock().assertion_ids.insert(jti);
    (valid && unused).then_some(client_id)
}

/// Returns the certificate registered with the app: its public key and `x5t#S256`.
fn registered_client_certificate() -> &'static (rsa::RsaPublicKey, String) {
    static CERTIFICATE: OnceLock<(rsa::RsaPublicKey, String)> = OnceLock::new();
    CERTIFICATE.get_or_init(|| {
        use x509_cert::der::{Decode, Encode};
        // Entra's thumbprint is over the uploaded DER bytes.
        let (_, der) = x509_cert::der::pem::decode_vec(CLIENT_CERTIFICATE.as_bytes()).unwrap();
        let certificate = x509_cert::Certificate::from_der(&der).expect("test certificate");
        let spki = certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .unwrap();
        let key = rsa::RsaPublicKey::from_public_key_der(&spki).unwrap();
        (key, URL_SAFE_NO_PAD.encode(Sha256::digest(&der)))
    })
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(path_tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let Some((client_id, client_auth)) =
        authenticate_client(&shared, &path_tenant, &headers, &form)
    else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided.",
        );
    };
    let grant_type = form.get("grant_type").cloned().unwrap_or_default();
    shared.lock().token_requests.push(TokenRequest {
        grant_type: grant_type.clone(),
        client_auth,
        tenant: path_tenant.clone(),
        scope: form.get("scope").cloned(),
        code_verifier: form.get("code_verifier").cloned(),
    });

    match grant_type.as_str() {
        "authorization_code" => redeem_code(&shared, &client_id, &form),
        "client_credentials" => app_only_token(&shared, &form),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        ),
    }
}

fn redeem_code(shared: &Shared, client_id: &str, form: &HashMap<String, String>) -> Response {
    let code = form.get("code").cloned().unwrap_or_default();
    let (grant, id_token_changes, satisfy_auth_context) = {
        let mut inner = shared.lock();
        let changes = inner.id_token_changes.clone();
        let satisfy = inner.satisfy_auth_context;
        let Some(grant) = inner.codes.get_mut(&code) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                70000,
                "The provided authorization code is invalid or has expired.",
            );
        };
        if grant.redeemed {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code.",
            );
        }
        grant.redeemed = true;
        (grant.clone(), changes, satisfy)
    };

    if grant.client_id != client_id || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            50011,
            "The redirect URI or client does not match the authorization request.",
        );
    }

    // RFC 7636 §4.6: the verifier must hash to the challenge of the authorize request.
    if let Some(challenge) = &grant.code_challenge {
        let Some(verifier) = form.get("code_verifier") else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50148,
                "The code_verifier is missing although a code_challenge was sent.",
            );
        };
        let computed = match grant.code_challenge_method.as_deref() {
            Some("S256") => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            _ => verifier.clone(),
        };
        if &computed != challenge {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                501481,
                "The code_verifier does not match the code_challenge.",
            );
        }
    }

    let mut claims = ada_claims(&shared.login, grant.nonce.as_deref().unwrap_or(""));
    claims["aud"] = json!(grant.client_id);
    let requested_context = grant
        .claims
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|request| {
            request["id_token"]["acrs"]["value"]
                .as_str()
                .map(str::to_string)
        });
    if let (Some(context), true) = (requested_context, satisfy_auth_context) {
        claims["acrs"] = json!([context]);
    }
    apply_changes(&mut claims, &id_token_changes);
    if grant.nonce.is_none() {
        claims.as_object_mut().unwrap().remove("nonce");
    }

    let id_token = sign(&default_header(TestKey::A), &claims, TestKey::A);
    let body = json!({
        "token_type": "Bearer",
        "scope": "openid profile email",
        "expires_in": 4581,
        "ext_expires_in": 4581,
        "access_token": "eyJ0eXAiOiJKV1QiLCJub25jZSI6Im9wYXF1ZSJ9.graph-delegated-token.sig",
        "id_token": id_token
    });
    json_response(StatusCode::OK, body.to_string())
}

/// Issues an app-only Graph token shaped like Entra's: a JWT whose header
/// carries a `nonce`, which only Graph can verify.
fn app_only_token(shared: &Shared, form: &HashMap<String, String>) -> Response {
    let expected_scope = format!("{}/.default", shared.graph);
    if form.get("scope") != Some(&expected_scope) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            "The provided value for scope is not valid; client credentials need {resource}/.default.",
        );
    }
    let now = now();
    let mut inner = shared.lock();
    let header = json!({ "typ": "JWT", "nonce": "graph-header-nonce", "alg": "RS256", "kid": TestKey::A.kid() });
    let claims = json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{TID_A}/"),
        "iat": now - 300,
        "nbf": now - 300,
        "exp": now + 3600,
        "idtyp": "app",
        "roles": ["GroupMember.Read.All"],
        "tid": TID_A,
        "serial": inner.app_tokens.len()
    });
    let access_token = sign(&header, &claims, TestKey::A);
    inner.app_tokens.push(access_token.clone());
    let body = json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token
    });
    json_response(StatusCode::OK, body.to_string())
}

fn authorized_for_graph(inner: &Inner, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| inner.app_tokens.iter().any(|issued| issued == token))
}

async fn member_objects(
    State(shared): State<Arc<Shared>>,
    Path(oid): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let mut inner = shared.lock();
    inner.graph_requests += 1;
    inner
        .graph_bodies
        .push(serde_json::from_str(&body).unwrap_or(Value::Null));
    if !authorized_for_graph(&inner, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    graph_page(&shared, &inner, &oid, 0)
}

async fn member_objects_page(
    State(shared): State<Arc<Shared>>,
    Path(oid): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let mut inner = shared.lock();
    inner.graph_requests += 1;
    if !authorized_for_graph(&inner, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    let page = query
        .get("$skiptoken")
        .and_then(|token| token.parse().ok())
        .unwrap_or(0);
    graph_page(&shared, &inner, &oid, page)
}

fn graph_page(shared: &Shared, inner: &Inner, oid: &str, page: usize) -> Response {
    let context = "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)";
    match &inner.graph_mode {
        GraphMode::Unavailable => {
            graph_error(StatusCode::SERVICE_UNAVAILABLE, "serviceNotAvailable")
        }
        GraphMode::NextLinkElsewhere => {
            let body = json!({
                "@odata.context": context,
                "@odata.nextLink": format!("{}/v1.0/users/{oid}/getMemberObjects?$skiptoken=1", shared.elsewhere),
                "value": [GID_ADM]
            });
            json_response(StatusCode::OK, body.to_string())
        }
        GraphMode::Members { ids, page_size } => {
            let start = page * page_size;
            let end = (start + page_size).min(ids.len());
            let mut body = json!({
                "@odata.context": context,
                "value": ids[start.min(ids.len())..end]
            });
            if end < ids.len() {
                body["@odata.nextLink"] = json!(format!(
                    "{}/v1.0/users/{oid}/getMemberObjects?$skiptoken={}",
                    shared.graph,
                    page + 1
                ));
            }
            json_response(StatusCode::OK, body.to_string())
        }
    }
}

fn graph_error(status: StatusCode, code: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": "stubbed Graph error" } });
    json_response(status, body.to_string())
}

async fn elsewhere_handler(State(shared): State<Arc<Shared>>) -> Response {
    shared.lock().elsewhere_requests += 1;
    json_response(
        StatusCode::OK,
        json!({ "value": ["not-a-real-group"] }).to_string(),
    )
}

/// Builds a map from pairs, for comparing query parameters.
pub fn pairs(url: &Url) -> Map<String, Value> {
    url.query_pairs()
        .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
        .collect()
}
