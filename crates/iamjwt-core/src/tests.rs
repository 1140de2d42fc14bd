//! The core's cross-module tests: the attacker's tests of the policy boundary and the property tests of every
//! parser of untrusted input. (Each module's own unit tests sit at its end.)

mod boundary;
mod props;
