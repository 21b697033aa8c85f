//! Rendering stored documents as SCIM resources, and `attributes` /
//! `excludedAttributes` projection (RFC 7644 §3.4.2.5).

/// Server-maintained metadata of a resource (RFC 7643 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// RFC 3339 UTC timestamps as stored.
    pub created: String,
    pub last_modified: String,
    /// Incremented on every change; rendered as a weak ETag `W/"<n>"`.
    pub version: i64,
    /// Absolute URI of the resource.
    pub location: String,
}
