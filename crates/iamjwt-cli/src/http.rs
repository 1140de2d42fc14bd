//! The HTTP client lives in `iamjwt-client`; `verify` and friends use it from there.

pub use iamjwt_client::http::HttpClient;
