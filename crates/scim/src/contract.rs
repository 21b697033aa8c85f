//! The discovery documents: `/ServiceProviderConfig`, `/Schemas` and
//! `/ResourceTypes` (RFC 7644 §4).
