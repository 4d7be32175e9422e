//! Integration tests: the real server binary against a fake YouTube, over real sockets.

mod support;

mod captions;
mod conventions;
mod cors;
mod events;
mod keys;
mod operator;
mod process;
mod resilience;
mod scripts;
mod sessions;
