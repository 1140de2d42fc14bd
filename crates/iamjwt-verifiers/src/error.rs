//! The crate's one error type: every variant prints as one line naming the cause and, where known, the fix.

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument `trust` or `verify` cannot work with (the message names the flag and the fix).
    #[error("{0}")]
    Usage(String),
    /// A token that is not a compact JWS.
    #[error("malformed token: {0}")]
    MalformedToken(String),
    /// A value a serializer cannot write in its target language without changing its meaning.
    #[error("{0}")]
    Unrepresentable(String),
}
