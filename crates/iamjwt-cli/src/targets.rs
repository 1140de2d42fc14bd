//! clap's view of the verifiers crate's closed sets, shared by `trust` and `verify`: the values come from
//! `Target::ALL` and `AzureCloud::ALL`, never a second list.

use clap::builder::PossibleValue;
use iamjwt_verifiers::{AzureCloud, Target};

/// A clap value type over a closed set `$set` with `ALL` and `as_str`.
macro_rules! value_enum {
    ($(#[$doc:meta])* $arg:ident($set:ident)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $arg(pub $set);

        impl clap::ValueEnum for $arg {
            fn value_variants<'a>() -> &'a [Self] {
                const ALL: [$arg; $set::ALL.len()] = {
                    let mut out = [$arg($set::ALL[0]); $set::ALL.len()];
                    let mut i = 0;
                    while i < out.len() {
                        out[i] = $arg($set::ALL[i]);
                        i += 1;
                    }
                    out
                };
                &ALL
            }
            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(PossibleValue::new(self.0.as_str()))
            }
        }
    };
}

value_enum!(
    /// A [`Target`] as a clap value.
    TargetArg(Target)
);
value_enum!(
    /// An [`AzureCloud`] as a clap value.
    CloudArg(AzureCloud)
);
