//! Every limit that more than one part of iamjwt reads: request parsing, caller identity, the audience policy,
//! shaping, templates, and the verifier rules. Each number is written here once; every reader imports it.
//!
//! Where a limit is AWS's or a verifier's, its doc says whose. Limits that only one verifier rule reads live with
//! that rule.

use std::ops::RangeInclusive;

// ---- The `/token` request (DESIGN.md §1) ----

/// `aud` may repeat up to this many times.
pub const MAX_AUDIENCES: usize = 10;
/// An audience is 1 to this many characters.
pub const AUDIENCE_MAX_CHARS: usize = 1000;
/// `tag` may repeat up to this many times (like `sts:GetWebIdentityToken`).
pub const MAX_REQUEST_TAGS: usize = 50;
/// The shortest token lifetime, in seconds: the floor of `duration`, `IAMJWT_MAX_DURATION`,
/// `IAMJWT_DEFAULT_DURATION` and a policy rule's `max_duration`.
pub const MIN_DURATION: u64 = 60;

// ---- AWS tags (IAM principal tags, STS session tags, request tags) ----

/// IAM and STS: a tag key is 1 to 128 characters.
pub const TAG_KEY_MAX_CHARS: usize = 128;
/// IAM and STS: a tag value is 0 to 256 characters.
pub const TAG_VALUE_MAX_CHARS: usize = 256;
/// STS: at most 50 session tags per session (`AssumeRoleWithWebIdentity`).
pub const MAX_SESSION_TAGS: usize = 50;

// ---- `sub` and extra claims ----

/// OIDC Core §2 (`sub` ≤ 255 ASCII characters) and Snowflake's `SUBJECT` (≤ 255): the tightest limit every
/// verifier shares, enforced on every `sub` template at start.
pub const SUB_MAX_BYTES: usize = 255;
/// GCP's `google.subject` (≤ 127 bytes): tighter than [`SUB_MAX_BYTES`]; a `sub` template declares `|N` bounds to
/// fit it.
pub const GCP_SUBJECT_MAX_BYTES: usize = 127;
/// An extra claim longer than this could never fit in a token: KMS signs at most 4096 bytes of base64url
/// (3072 bytes of JSON), and the registered claims need room too.
pub const CLAIM_MAX_BYTES: usize = 2048;

// ---- The caller's identity (IAM and API Gateway) ----

/// IAM role and user names (`[\w+=,.@-]`).
pub const IAM_NAME_CHARS: RangeInclusive<usize> = 1..=64;
/// STS role session names.
pub const SESSION_NAME_CHARS: RangeInclusive<usize> = 2..=64;
/// STS federated user names (`GetFederationToken`).
pub const FEDERATED_USER_NAME_CHARS: RangeInclusive<usize> = 2..=32;
/// IAM paths (`/` or `/…/`).
pub const IAM_PATH_MAX_CHARS: usize = 512;
/// A partition name (`aws`, `aws-us-gov`, …).
pub const PARTITION_MAX_CHARS: usize = 32;
/// A caller ARN longer than this is refused before it is parsed.
pub const CALLER_ARN_MAX_CHARS: usize = 2048;
/// Other request-context values (`user`, `principalOrgId`, `sourceIp`) longer than this are dropped.
pub const CONTEXT_VALUE_MAX_CHARS: usize = 256;
/// AWS Organizations: an organization id is `o-` and 10 to 32 lower-case letters or digits.
pub const ORG_ID_SUFFIX_CHARS: RangeInclusive<usize> = 10..=32;
/// An AWS account id is exactly this many ASCII digits.
pub const ACCOUNT_ID_DIGITS: usize = 12;
