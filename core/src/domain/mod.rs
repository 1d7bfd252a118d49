//! Domain newtypes and events. Every concept that crosses a boundary has a type whose only way in
//! is a checked constructor, so neither a queue message nor a row can smuggle in an invalid value.

mod event;
mod ids;
mod invite;
mod role;
mod subscription;

pub use event::{
    AppEvent, Association, BATCH_FORMAT_VERSION, BatchDecodeError, EventBatch, EventSource, Merge,
    PropertyChange, QueuedEvent, WorkflowEvent,
};
pub use ids::{
    AppId, EventId, EventKey, IdError, ObjectId, PortalId, PropertyName, SubscriptionId, WorkflowId,
};
pub use invite::{InviteEmail, InviteEmailError, InviteId, InviteToken, InviteTokenError};
pub use role::{Role, UnknownRole};
pub use subscription::{ObjectKind, SubscriptionAction, SubscriptionType};
