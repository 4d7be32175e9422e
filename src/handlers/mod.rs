//! One file per URL path, one function per method. Handlers take our own `Req` (never
//! tiny_http) and return a reply value or an `ApiError`.

pub mod captions;
pub mod contact;
pub mod events;
pub mod health;
pub mod keys;
pub mod live;
pub mod mic;
pub mod statics;
pub mod stats;
pub mod sync;
pub mod usage;
