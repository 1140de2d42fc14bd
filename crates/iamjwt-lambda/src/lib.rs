//! The two handlers, written against the core's ports so the same code runs in Lambda and in local mode:
//! [`token::TokenHandler`] turns an API Gateway REST proxy request into a token response (DESIGN.md §1), and
//! [`rotate::RotateHandler`] runs one rotation step (DESIGN.md §6). Binaries only wire clients into these.

pub mod error;
pub mod rotate;
pub mod token;
pub mod wiring;

pub use error::Error;
