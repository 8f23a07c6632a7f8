//! Sessions: registering a tenant with its owner, signing in, refreshing and signing out.
//!
//! Every way in answers the same payload shape: tokens, the member and their tenant.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use domain::identity::{SignedIn, sessions};
use time::OffsetDateTime;

use super::members::MemberObject;
use super::tenants::TenantObject;
use crate::error::{ApiError, UserError, payload, user_errors};
use crate::graphql::context::{RequestContext, nullable};

/// A new tenant and its first owner.
#[derive(InputObject)]
pub struct RegisterTenantInput {
    /// Display name, 1-100 characters.
    pub name: String,
    /// Unique handle: 3-63 of a-z, 0-9 and '-'.
    pub slug: String,
    /// ISO 4217 code of the currency every price will be in.
    pub currency_code: String,
    /// The owner's email.
    pub owner_email: String,
    /// The owner's password, 10-128 characters.
    #[graphql(secret)]
    pub owner_password: String,
}

/// A sign-in.
#[derive(InputObject)]
pub struct LoginInput {
    /// The tenant's handle, at most 63 characters.
    pub tenant_slug: String,
    /// The member's email, at most 254 bytes.
    pub email: String,
    /// The member's password, at most 128 characters.
    #[graphql(secret)]
    pub password: String,
}

/// A refresh token to exchange.
#[derive(InputObject)]
pub struct RefreshTokenInput {
    /// The refresh token from the last sign-in or refresh; it is used up by this call.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// A session to end.
#[derive(InputObject)]
pub struct LogoutInput {
    /// Any refresh token of the session.
    #[graphql(secret)]
    pub refresh_token: String,
}

macro_rules! session_payload {
    ($name:ident, $graphql:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(SimpleObject, Default)]
        #[graphql(name = $graphql)]
        pub struct $name {
            /// Bearer token for `Authorization`, valid until `expiresAt`.
            pub access_token: Option<String>,
            /// Exchange it with `refreshToken` for new tokens; it works once.
            pub refresh_token: Option<String>,
            /// When the access token expires.
            pub expires_at: Option<OffsetDateTime>,
            /// The signed-in member.
            pub member: Option<MemberObject>,
            /// Their tenant.
            pub tenant: Option<TenantObject>,
            /// Why nothing happened, if nothing did.
            pub user_errors: Vec<UserError>,
        }

        impl $name {
            fn signed_in(req: &RequestContext<'_>, signed_in: SignedIn) -> Result<Self, ApiError> {
                let now = req.services.ports.clock.now();
                let access = req.services.tokens.issue(&signed_in, now)?;
                Ok($name {
                    access_token: Some(access.token),
                    refresh_token: Some(signed_in.refresh_token.expose().to_owned()),
                    expires_at: Some(access.expires_at),
                    member: Some(MemberObject(signed_in.user)),
                    tenant: Some(TenantObject(signed_in.tenant)),
                    user_errors: Vec::new(),
                })
            }

            fn rejected(user_errors: Vec<UserError>) -> Self {
                $name { user_errors, ..Default::default() }
            }
        }
    };
}

session_payload!(RegisterTenantPayload, "RegisterTenantPayload", "The new tenant, its owner, and the owner's tokens.");
session_payload!(LoginPayload, "LoginPayload", "Tokens for the signed-in member.");
session_payload!(RefreshTokenPayload, "RefreshTokenPayload", "Fresh tokens; the presented refresh token is used up.");

/// The outcome of `logout`.
#[derive(SimpleObject)]
pub struct LogoutPayload {
    /// Always true: the session is over (or was never valid).
    pub logged_out: bool,
    /// Always empty.
    pub user_errors: Vec<UserError>,
}

/// Session mutations.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Creates a tenant and its owner, and signs the owner in. Open to anyone in development;
    /// in production only with `KEEL_OPEN_REGISTRATION=true` (`FORBIDDEN` otherwise). Hashes a
    /// password: one request may hash at most 5 (`QUERY_TOO_COMPLEX` beyond).
    async fn register_tenant(
        &self,
        ctx: &Context<'_>,
        input: RegisterTenantInput,
    ) -> Result<Option<RegisterTenantPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            req.budget.spend_password_check()?;
            let command = match sessions::RegisterTenant::parse(
                &input.name,
                &input.slug,
                &input.currency_code,
                &input.owner_email,
                &input.owner_password,
            ) {
                Ok(command) => command,
                Err(invalid) => return Ok(RegisterTenantPayload::rejected(user_errors(invalid))),
            };
            let result =
                sessions::register_tenant(&req.services.ports, req.caller, command, req.services.open_registration)
                    .await;
            payload(result, |s| RegisterTenantPayload::signed_in(&req, s), |e| Ok(RegisterTenantPayload::rejected(e)))?
        })
        .await
    }

    /// Signs a member in. Wrong credentials are a `userErrors` entry (`INVALID_CREDENTIALS`); a
    /// value past its length limit is `TOO_LONG` on its field, before anything is counted or
    /// hashed. Too many attempts (for the account from this address, from this address, or
    /// for the account from everywhere) or no free password-hashing slot are `RATE_LIMITED`
    /// with `retryAfter` seconds. Checks a password: one request may check at most 5
    /// (`QUERY_TOO_COMPLEX` beyond).
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<Option<LoginPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            req.budget.spend_password_check()?;
            let command = match sessions::Login::parse(&input.tenant_slug, &input.email, &input.password) {
                Ok(command) => command,
                Err(invalid) => return Ok(LoginPayload::rejected(user_errors(invalid))),
            };
            let result = sessions::login(&req.services.ports, req.caller, command).await;
            payload(result, |s| LoginPayload::signed_in(&req, s), |e| Ok(LoginPayload::rejected(e)))?
        })
        .await
    }

    /// Exchanges a refresh token for new tokens. A token works once: presenting a used one
    /// revokes its whole session. `UNAUTHENTICATED` for any token that is not valid.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        input: RefreshTokenInput,
    ) -> Result<Option<RefreshTokenPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            let result = sessions::refresh_session(&req.services.ports, req.caller, &input.refresh_token).await;
            payload(result, |s| RefreshTokenPayload::signed_in(&req, s), |e| Ok(RefreshTokenPayload::rejected(e)))?
        })
        .await
    }

    /// Ends the session of a refresh token. Its access tokens stop working at once.
    async fn logout(&self, ctx: &Context<'_>, input: LogoutInput) -> Result<Option<LogoutPayload>, ApiError> {
        nullable(async {
            let req = RequestContext::of(ctx)?;
            sessions::logout(&req.services.ports, req.caller, &input.refresh_token).await?;
            Ok(LogoutPayload { logged_out: true, user_errors: Vec::new() })
        })
        .await
    }
}
