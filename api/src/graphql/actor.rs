//! Who acted, as the schema shows it on audit entries, stock movements and order history.
//!
//! A leaf shared by the areas: it imports only global ids.

use async_graphql::{Enum, ID};
use domain::auth::ActorRef;

use super::global_id::{self, Kind};

/// Who performed an audited action.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ActorKind")]
pub enum ActorKindEnum {
    /// A member (see `memberId`).
    Member,
    /// An API key (see `apiKeyId`).
    ApiKey,
    /// Someone not signed in: a login attempt or a registration.
    Visitor,
    /// An operator at the `keel` command line.
    Operator,
    /// Keel itself, applying a rule on a schedule (an unpaid order expiring).
    System,
}

impl From<ActorRef> for ActorKindEnum {
    fn from(actor: ActorRef) -> Self {
        match actor {
            ActorRef::User(_) => ActorKindEnum::Member,
            ActorRef::ApiKey(_) => ActorKindEnum::ApiKey,
            ActorRef::Visitor => ActorKindEnum::Visitor,
            ActorRef::Operator => ActorKindEnum::Operator,
            ActorRef::System => ActorKindEnum::System,
        }
    }
}

/// The global id of the member behind `actor`, if a member acted.
pub fn member_id_of(actor: ActorRef) -> Option<ID> {
    match actor {
        ActorRef::User(id) => Some(global_id::encode(Kind::Member, id.uuid())),
        _ => None,
    }
}
