//! PATCH (RFC 7644 §3.5.2) in both of Entra's dialects.
