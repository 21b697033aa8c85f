//! The browser side of Lockgate: sign-in with the identity provider or a
//! break-glass account, the portal page and sign-out.

mod break_glass;
pub(crate) mod cookies;
mod logout;
mod page;
mod portal;

pub use break_glass::{NewBreakGlass, create_break_glass};
pub(crate) use cookies::SESSION_COOKIE;
pub(crate) use page::{page, problem};

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/auth/{tenant}/break-glass",
            get(break_glass::form).post(break_glass::sign_in),
        )
        .route("/auth/{tenant}/logout", post(logout::logout))
        .route("/auth/{tenant}/signed-out", get(logout::signed_out))
        .route("/portal/{tenant}", get(portal::portal))
        .route("/auth/{tenant}/login", get(crate::sso::routes::login))
        .route("/auth/{tenant}/callback", get(crate::sso::routes::callback))
        .route(
            "/auth/{tenant}/frontchannel-logout",
            get(crate::sso::routes::frontchannel_logout),
        )
}
