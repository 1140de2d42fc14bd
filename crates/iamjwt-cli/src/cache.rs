//! `iamjwt cache clear`: empties the token cache of `token`, `credentials` and `console` (after an emergency
//! rotation its tokens are refused by verifiers until they age out).

use crate::error::Error;
use iamjwt_client::TokenCache;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Remove every cached token and role credential ($XDG_CACHE_HOME/iamjwt, else ~/.cache/iamjwt).
    Clear,
}

pub fn run(args: &Args) -> Result<(), Error> {
    match args.action {
        Action::Clear => {
            let dir = TokenCache::default_dir()?;
            if !dir.exists() {
                crate::print_stdout(&format!("no cache at {}", dir.display()));
                return Ok(());
            }
            let removed = TokenCache::open(&dir)?.clear()?;
            crate::print_stdout(&format!(
                "removed {removed} cached entr{} from {}",
                if removed == 1 { "y" } else { "ies" },
                dir.display()
            ));
            Ok(())
        }
    }
}
