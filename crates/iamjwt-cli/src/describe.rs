//! `iamjwt describe`: the closed sets this build knows (algorithms with their KMS specs, rotation steps, key
//! slots, KMS key tags, audience policy rule fields, rotate step error types) and its version — as a table, or with
//! `--json` the document `infra/closed-sets.json` is a copy of.

use crate::error::Error;
use iamjwt_core::closed_sets::closed_sets;

#[derive(clap::Args)]
pub struct Args {
    /// Print the machine-readable document (what `infra/closed-sets.json` holds).
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<(), Error> {
    let sets = closed_sets();
    if args.json {
        let text = serde_json::to_string_pretty(&sets)
            .map_err(|e| Error::Usage(format!("cannot serialise the closed sets: {e}")))?;
        crate::print_stdout(&text);
        return Ok(());
    }
    crate::print_stdout(
        "algorithm  KMS key spec    KMS signing algorithm        signature  default",
    );
    for a in &sets.algorithms {
        crate::print_stdout(&format!(
            "{:<10} {:<15} {:<28} {:>4} bytes  {}",
            a.jose,
            a.kms_key_spec,
            a.kms_signing_algorithm,
            a.signature_bytes,
            if a.default_enabled { "on" } else { "off" }
        ));
    }
    crate::print_stdout(&format!("default algorithm: {}", sets.default_algorithm));
    crate::print_stdout(&format!(
        "rotation steps: {}",
        sets.rotation_steps.join(" → ")
    ));
    crate::print_stdout(&format!("key slots: {}", sets.key_slots.join(", ")));
    crate::print_stdout(&format!(
        "KMS key tags: {} (issuer), {}",
        sets.kms_key_tags.issuer,
        sets.kms_key_tags.facts.join(", ")
    ));
    crate::print_stdout(&format!(
        "audience policy rule fields: {}",
        sets.policy_rule_fields.join(", ")
    ));
    crate::print_stdout(&format!(
        "rotate step errors: retried {}; caught {}",
        sets.rotate_error_types.retryable.join(", "),
        sets.rotate_error_types.not_retryable.join(", ")
    ));
    crate::print_stdout(&format!("version: {}", sets.version));
    Ok(())
}
