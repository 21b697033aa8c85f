//! Lockgate's domain: identifiers, tenant slugs, timestamps and the identity
//! events that the SCIM surface writes and the locker lifecycle consumes.
//! Pure: no I/O, no HTTP, no SQL.

pub mod access;
pub mod audit;
pub mod event;
pub mod role;
pub mod tenant;
pub mod timestamp;

pub use event::{IdentityEvent, IdentityEventKind};
pub use tenant::{Slug, SlugError};
