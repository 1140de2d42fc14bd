//! The Lambda front door: [`token::TokenHandler`] turns an API Gateway REST proxy request into the shared edge's
//! call ([`iamjwt_edge::token::TokenEndpoint`]) and back. `src/bin/{token,rotate}.rs` are the only place that
//! joins the edge with the AWS adapters (`iamjwt-aws`) and the Lambda runtime; [`wiring`] is what both share at
//! start-up.

pub mod token;
pub mod wiring;
