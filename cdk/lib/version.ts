/**
 * The one version of iamjwt: the crates, the CLI (`iamjwt --version`), the Lambda zips and this construct
 * (`IamJwtIssuer.VERSION`). Its source is `[workspace.package] version` in Cargo.toml; `iamjwt describe --json`
 * prints it into `infra/closed-sets.json` (a Rust test keeps the copy equal), and this module reads it from there,
 * so there is nothing to bump here. The package's `package.json` version and the zips' manifest are written from
 * it by `make package`.
 */
import closedSetsJson from '../../infra/closed-sets.json';

function load(raw: unknown): string {
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version !== 'string' || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(version)) {
    throw new Error(`infra/closed-sets.json: version must be a semantic version (x.y.z), got ${JSON.stringify(version)}; `
      + 'regenerate the file with `iamjwt describe --json > infra/closed-sets.json`');
  }
  return version;
}

/** The iamjwt version of this construct and of the Lambda code it deploys. */
export const IAMJWT_VERSION: string = load(closedSetsJson);
