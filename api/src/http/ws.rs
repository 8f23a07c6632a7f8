//! GraphQL over WebSocket at `/graphql/ws`, speaking graphql-transport-ws (the protocol of the
//! `graphql-ws` library) through async-graphql's own protocol engine.
//!
//! What Keel adds around the engine, so that clients can tell "sign in again" from a bug:
//!
//! - Only the `graphql-transport-ws` subprotocol is accepted. A client offering only the legacy
//!   `subscriptions-transport-ws` protocol (named `graphql-ws`), or none, gets no subprotocol
//!   and the socket closes at once with `4406`.
//! - `connection_init` carries the credential in its payload, `{"Authorization": "Bearer …"}`
//!   (`authorization` also accepted), checked exactly as the HTTP `Authorization` header is
//!   (access tokens and API keys). No, an expired, a forged or a revoked credential closes the
//!   socket with `4403` before any data (async-graphql alone would close with `1002`, a protocol
//!   error); storage failing during the check closes with `1011`, no `connection_init`
//!   within [`INIT_TIMEOUT`] with `4408`, and `subscribe` before it with `4401`.
//! - An access token's socket closes with `4403` when the token expires. While the socket is
//!   open, its credential is checked again every [`SESSION_CHECK`]: an access token that expired, a session signed out or revoked, a deactivated member, a
//!   revoked API key, a suspended shop or a changed role (the subscriptions were authorized
//!   with the old one) closes the socket with `4403`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::http::{WebSocket as Engine, WebSocketProtocols, WsMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use domain::DomainError;
use domain::auth::{Caller, Permission};
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::state::AppState;
use crate::auth;
use crate::graphql::context::connection_data;

/// The one subprotocol served.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";
/// How long a client has to send `connection_init` (checked every [`SESSION_CHECK`]).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open connection's credential is checked again.
pub const SESSION_CHECK: Duration = Duration::from_secs(5);

/// Close code: the credential is missing, invalid, expired or revoked.
const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: the client does not speak graphql-transport-ws.
const CLOSE_SUBPROTOCOL: u16 = 4406;
/// Close code: no `connection_init` in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code: the client sent more than [`IN_FLIGHT`] messages the server had not read yet.
const CLOSE_POLICY: u16 = 1008;
/// Client messages queued for the protocol engine at most.
const IN_FLIGHT: usize = 256;
/// Close code: the server could not check the credential (storage unavailable).
const CLOSE_INTERNAL: u16 = 1011;
/// Close code: `subscribe` before `connection_init`.
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// The code async-graphql closes with for `subscribe` before `connection_init`.
const ENGINE_NOT_INITIALISED: u16 = 1011;
/// The code async-graphql closes with when `connection_init` is refused.
const ENGINE_REFUSED: u16 = 1002;

/// `GET /graphql/ws`: upgrades to a GraphQL WebSocket connection.
pub async fn graphql_ws(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !offered {
        return upgrade
            .on_upgrade(|socket| close(socket, CLOSE_SUBPROTOCOL, "use the graphql-transport-ws subprotocol"));
    }
    let address = state.client_addresses.of(peer, &headers);
    upgrade.protocols([SUBPROTOCOL]).on_upgrade(move |socket| serve(socket, state, Some(address)))
}

/// What `connection_init` decided.
enum Init {
    /// Not received yet.
    Waiting,
    /// Accepted: the `Authorization` value to check again while the socket is open, and the
    /// permissions its subscriptions were authorized with.
    Accepted(HeaderMap, Vec<Permission>),
    /// Refused, with the close code to use.
    Refused(u16),
}

/// What happened next on a connection.
enum Step {
    /// A frame from the client.
    Client(Option<Result<Message, axum::Error>>),
    /// A message from the protocol engine.
    Engine(Option<WsMessage>),
    /// Time to check the credential again, or to give up waiting for `connection_init`.
    Check,
    /// The access token just expired.
    Expired,
}

async fn serve(mut socket: WebSocket, state: AppState, address: Option<IpAddr>) {
    let init = Arc::new(Mutex::new(Init::Waiting));
    let (to_engine, from_client) = mpsc::channel::<Vec<u8>>(IN_FLIGHT);
    let input = futures_util::stream::unfold(from_client, |mut from_client| async move {
        from_client.recv().await.map(|frame| (frame, from_client))
    });
    let (expiry_tx, mut expiry) = tokio::sync::oneshot::channel::<OffsetDateTime>();
    let mut expiry_pending = true;
    let mut expires: Option<tokio::time::Instant> = None;
    let on_init = {
        let (state, init) = (state.clone(), init.clone());
        move |payload: Value| async move {
            let outcome = authenticate(&state, &payload, address).await;
            let mut slot = init.lock().unwrap_or_else(PoisonError::into_inner);
            match outcome {
                Ok((caller, headers, expires_at)) => {
                    *slot = Init::Accepted(headers, caller.actor.permissions());
                    if let Some(expires_at) = expires_at {
                        // The receiver is gone only when the connection has ended.
                        let _ = expiry_tx.send(expires_at);
                    }
                    Ok(connection_data(caller))
                }
                Err(err) => {
                    *slot = Init::Refused(match err {
                        DomainError::Unauthenticated(_) => CLOSE_FORBIDDEN,
                        _ => CLOSE_INTERNAL,
                    });
                    let message = match err {
                        DomainError::Unauthenticated(reason) => reason,
                        _ => "the credential could not be checked; try again",
                    };
                    Err(async_graphql::Error::new(message))
                }
            }
        }
    };
    let mut engine = std::pin::pin!(
        Engine::new(state.schema.clone(), input, WebSocketProtocols::GraphQLWS).on_connection_init(on_init)
    );
    let opened = tokio::time::Instant::now();
    let mut checks = tokio::time::interval_at(opened + SESSION_CHECK, SESSION_CHECK);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let step = tokio::select! {
            frame = socket.recv() => Step::Client(frame),
            message = engine.next() => Step::Engine(message),
            _ = checks.tick() => Step::Check,
            received = &mut expiry, if expiry_pending => {
                expiry_pending = false;
                if let Ok(at) = received {
                    let left = Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or(Duration::ZERO);
                    expires = Some(tokio::time::Instant::now() + left);
                }
                continue;
            }
            () = sleep_until(expires) => Step::Expired,
        };
        match step {
            // Never waits for room: the engine is polled only by this loop.
            Step::Client(Some(Ok(Message::Text(text)))) => {
                if to_engine.try_send(text.as_bytes().to_vec()).is_err() {
                    return close(socket, CLOSE_POLICY, "too many messages in flight").await;
                }
            }
            Step::Client(Some(Ok(Message::Binary(bytes)))) => {
                if to_engine.try_send(bytes.to_vec()).is_err() {
                    return close(socket, CLOSE_POLICY, "too many messages in flight").await;
                }
            }
            // Pings are answered by axum itself.
            Step::Client(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Step::Client(Some(Ok(Message::Close(_)) | Err(_)) | None) => return,
            Step::Engine(Some(WsMessage::Text(text))) => {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Step::Engine(Some(WsMessage::Close(code, reason))) => {
                let code = match *init.lock().unwrap_or_else(PoisonError::into_inner) {
                    Init::Refused(refused) if code == ENGINE_REFUSED => refused,
                    // The protocol's code for `subscribe` before `connection_init`.
                    Init::Waiting if code == ENGINE_NOT_INITIALISED => CLOSE_UNAUTHORIZED,
                    _ => code,
                };
                return close(socket, code, &reason).await;
            }
            Step::Engine(None) => return close(socket, 1000, "").await,
            Step::Expired => return close(socket, CLOSE_FORBIDDEN, "access token expired; refresh it").await,
            Step::Check => {
                let accepted = match &*init.lock().unwrap_or_else(PoisonError::into_inner) {
                    Init::Waiting => None,
                    Init::Accepted(headers, permissions) => Some((headers.clone(), permissions.clone())),
                    // The engine closes the socket itself.
                    Init::Refused(_) => continue,
                };
                let Some((headers, permissions)) = accepted else {
                    if opened.elapsed() >= INIT_TIMEOUT {
                        return close(socket, CLOSE_INIT_TIMEOUT, "connection initialisation timeout").await;
                    }
                    continue;
                };
                match auth::authenticate(&state.services.ports, &state.services.tokens, &headers).await {
                    Ok(actor) if actor.permissions() == permissions => {}
                    // A changed role: the subscriptions were authorized with the old one.
                    Ok(_) => return close(socket, CLOSE_FORBIDDEN, "your permissions changed; subscribe again").await,
                    Err(DomainError::Unauthenticated(reason)) => return close(socket, CLOSE_FORBIDDEN, reason).await,
                    // Storage failing for a moment ends no subscription: the next check decides.
                    Err(err) => tracing::warn!(error = %err, "checking a WebSocket's credential failed; retrying"),
                }
            }
        }
    }
}

/// Authenticates `connection_init`'s payload as the HTTP path authenticates its header; no
/// credential at all is refused too (every subscription belongs to a shop).
async fn authenticate(
    state: &AppState,
    payload: &Value,
    address: Option<IpAddr>,
) -> Result<(Caller, HeaderMap, Option<OffsetDateTime>), DomainError> {
    let value = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key))
        .ok_or(DomainError::Unauthenticated("send `{\"Authorization\": \"Bearer …\"}` in connection_init"))?;
    let value = value
        .as_str()
        .and_then(|value| HeaderValue::from_str(value).ok())
        .ok_or(DomainError::Unauthenticated("the Authorization value must be a string"))?;
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value);
    let (actor, expires_at) = auth::authenticate_until(&state.services.ports, &state.services.tokens, &headers).await?;
    Ok((Caller { actor, address }, headers, expires_at))
}

/// Sleeps until `deadline`, or for ever when there is none.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Closes the socket with `code` and `reason` (cut to the 123 bytes a close frame holds).
async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame { code, reason: reason[..end].into() };
    // The client may be gone already; there is nothing left to tell it then.
    let _ = socket.send(Message::Close(Some(frame))).await;
}
