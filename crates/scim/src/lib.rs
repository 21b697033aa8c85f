//! SCIM 2.0 (RFC 7643, RFC 7644) as Microsoft Entra ID speaks it: schemas,
//! filters, PATCH in both of Entra's dialects, and resource normalisation.
//! Pure data transformations; the store and the HTTP layer live elsewhere.

pub mod error;
pub mod filter;
pub mod schema;

pub use error::{ScimError, ScimType};
pub mod contract;
pub mod patch;
pub mod render;
pub mod resource;
