//! Tests of the Entra relying party against an in-process fake of Entra ID
//! and Microsoft Graph on 127.0.0.1. Test names starting with `oNN_` follow
//! the failures that real relying parties had with Entra.

mod certificate;
mod discovery;
mod fake;
mod flow;
mod groups;
mod id_token;
mod keys;
