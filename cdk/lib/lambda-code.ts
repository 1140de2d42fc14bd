/**
 * Where the code of the token and rotate Lambdas comes from, checked at synth time. Three sources, one at a time:
 *
 * - by default, the zips the iamjwt-cdk package carries (`cdk/lambda/{token,rotate}.zip`, copied by `make package`
 *   from `make lambdas`), each checked against the SHA-256 recorded beside it in `cdk/lambda/manifest.json`, which
 *   also records their version and architecture: a changed or truncated zip fails the synth, it never reaches a
 *   deployment;
 * - `lambdaZips`: zips someone built (each with `bootstrap` at its root), checked against the SHA-256 given with them;
 * - `lambdaCodeDir`: cargo-lambda's output directory (`<dir>/token/bootstrap`, `<dir>/rotate/bootstrap`), which CDK
 *   zips itself (the repository's own app, `make synth` / `make deploy`).
 *
 * Pure apart from reading the files: problems are reported through `err`, so `resolveConfig` lists them all at once.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { IAMJWT_VERSION } from './version';

/** The two Lambdas, in the order their files are listed and checked. */
export const LAMBDA_FUNCTIONS = ['token', 'rotate'] as const;

/** The directory of the packaged zips and their manifest, inside the installed package. */
export const PACKAGED_LAMBDA_DIR = path.resolve(__dirname, '..', 'lambda');

/** The manifest `make package` writes beside the packaged zips. */
export const LAMBDA_MANIFEST_FILE = 'manifest.json';

/** The manifest's content (written by scripts/package-construct.sh). */
export interface LambdaManifest {
  /** The iamjwt version the zips were built from; must be `IamJwtIssuer.VERSION`. */
  readonly version: string;
  /** `arm64` or `x86_64`: what `make lambdas` built. */
  readonly architecture: string;
  /** File name (`token.zip`, `rotate.zip`) → lowercase hex SHA-256 of the file. */
  readonly sha256: Record<string, string>;
}

/** Zips built elsewhere (what `make lambdas` writes to `target/lambda/`), instead of the zips in this package. */
export interface LambdaZips {
  /** Path of the token function's zip (`bootstrap` at its root). */
  readonly tokenZip: string;
  /** Path of the rotate function's zip (`bootstrap` at its root). */
  readonly rotateZip: string;
  /**
   * Lowercase hex SHA-256 the token zip must have (`sha256sum token.zip`); synthesis fails when the file differs.
   * @default - not checked
   */
  readonly tokenZipSha256?: string;
  /**
   * Lowercase hex SHA-256 the rotate zip must have (`sha256sum rotate.zip`); synthesis fails when the file differs.
   * @default - not checked
   */
  readonly rotateZipSha256?: string;
}

/** What the Lambda functions are built from. */
export interface LambdaCodeChoice {
  /** Asset path of the token function: a zip file or a directory holding `bootstrap`. */
  readonly tokenCodePath: string;
  /** Asset path of the rotate function: a zip file or a directory holding `bootstrap`. */
  readonly rotateCodePath: string;
  /** The architecture the code was built for, where it is recorded (`arm64`, `x86_64`), and where that record is. */
  readonly recordedArchitecture?: { readonly value: string; readonly source: string };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Lowercase hex SHA-256 of a file's bytes. */
export function sha256File(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The source the props choose; undefined (with the reasons given to `err`) when it is unusable. */
export function chooseLambdaCode(
  props: { readonly lambdaCodeDir?: string; readonly lambdaZips?: LambdaZips },
  err: (msg: string) => void,
  packagedDir: string = PACKAGED_LAMBDA_DIR,
): LambdaCodeChoice | undefined {
  if (props.lambdaCodeDir !== undefined && props.lambdaZips !== undefined) {
    err('give lambdaCodeDir (cargo-lambda\'s output directory) or lambdaZips (zip files), not both');
    return undefined;
  }
  if (props.lambdaCodeDir !== undefined) return fromCodeDir(path.resolve(props.lambdaCodeDir), err);
  if (props.lambdaZips !== undefined) return fromZips(props.lambdaZips, err);
  return fromPackage(packagedDir, err);
}

function fromCodeDir(dir: string, err: (msg: string) => void): LambdaCodeChoice | undefined {
  const missing = LAMBDA_FUNCTIONS.map((fn) => path.join(dir, fn, 'bootstrap')).filter((f) => !isFile(f));
  if (missing.length > 0) {
    err(`Lambda binaries not found: ${missing.join(', ')} (run \`make lambdas\`, or set lambdaCodeDir to cargo-lambda's output directory)`);
    return undefined;
  }
  // `make lambdas` records the architecture it built (x86_64 where the aarch64 target is unavailable).
  const archFile = path.join(dir, 'ARCH');
  return {
    tokenCodePath: path.join(dir, 'token'),
    rotateCodePath: path.join(dir, 'rotate'),
    recordedArchitecture: isFile(archFile) ? { value: fs.readFileSync(archFile, 'utf8').trim(), source: archFile } : undefined,
  };
}

function fromZips(zips: LambdaZips, err: (msg: string) => void): LambdaCodeChoice | undefined {
  let usable = true;
  const check = (name: string, file: string, expected: string | undefined) => {
    if (!isFile(file)) {
      err(`lambdaZips.${name}: ${file} is not a file (build it with \`make lambdas\`: target/lambda/<fn>.zip)`);
      usable = false;
      return;
    }
    if (expected === undefined) return;
    if (!SHA256_HEX.test(expected)) {
      err(`lambdaZips.${name}Sha256 must be 64 lowercase hex digits (sha256sum), got '${expected}'`);
      usable = false;
      return;
    }
    const actual = sha256File(file);
    if (actual !== expected) {
      err(`lambdaZips.${name}: ${file} has SHA-256 ${actual}, not the ${expected} given in ${name}Sha256: `
        + 'the file changed since its hash was taken (a rebuild, a tampered or truncated copy)');
      usable = false;
    }
  };
  const tokenZip = path.resolve(zips.tokenZip);
  const rotateZip = path.resolve(zips.rotateZip);
  check('tokenZip', tokenZip, zips.tokenZipSha256);
  check('rotateZip', rotateZip, zips.rotateZipSha256);
  if (!usable) return undefined;
  const archFile = path.join(path.dirname(tokenZip), 'ARCH');
  return {
    tokenCodePath: tokenZip,
    rotateCodePath: rotateZip,
    recordedArchitecture: isFile(archFile) ? { value: fs.readFileSync(archFile, 'utf8').trim(), source: archFile } : undefined,
  };
}

function fromPackage(dir: string, err: (msg: string) => void): LambdaCodeChoice | undefined {
  const manifestFile = path.join(dir, LAMBDA_MANIFEST_FILE);
  if (!isFile(manifestFile)) {
    err(`no Lambda code: ${manifestFile} does not exist. The iamjwt-cdk package carries its zips there; in a source checkout `
      + 'build them with `make lambdas` and set lambdaCodeDir to <repo>/target/lambda (or lambdaZips), or build the package with `make package`');
    return undefined;
  }
  let manifest: LambdaManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  } catch (e) {
    err(`${manifestFile}: not valid JSON (${(e as Error).message}); reinstall iamjwt-cdk`);
    return undefined;
  }
  const problems: string[] = [];
  if (manifest.version !== IAMJWT_VERSION) {
    problems.push(`the zips are version ${JSON.stringify(manifest.version)} but the construct is ${IAMJWT_VERSION}`);
  }
  const paths: string[] = [];
  for (const fn of LAMBDA_FUNCTIONS) {
    const name = `${fn}.zip`;
    const file = path.join(dir, name);
    paths.push(file);
    const expected = manifest.sha256?.[name];
    if (typeof expected !== 'string' || !SHA256_HEX.test(expected)) {
      problems.push(`no SHA-256 recorded for ${name}`);
    } else if (!isFile(file)) {
      problems.push(`${file} is missing`);
    } else {
      const actual = sha256File(file);
      if (actual !== expected) {
        problems.push(`${file} has SHA-256 ${actual}, but the package recorded ${expected}: the file was changed or truncated after packaging`);
      }
    }
  }
  if (problems.length > 0) {
    err(`the packaged Lambda zips cannot be used (${manifestFile}): ${problems.join('; ')}. `
      + 'Reinstall iamjwt-cdk, or pass zips you built as lambdaZips');
    return undefined;
  }
  return {
    tokenCodePath: paths[0],
    rotateCodePath: paths[1],
    recordedArchitecture: { value: manifest.architecture, source: manifestFile },
  };
}

/**
 * The functions' architecture: the prop when given (it must match a recorded one), else the recorded one, else ARM_64.
 */
export function chooseArchitecture(
  prop: lambda.Architecture | undefined,
  recorded: LambdaCodeChoice['recordedArchitecture'],
  err: (msg: string) => void,
): lambda.Architecture {
  let fromRecord: lambda.Architecture | undefined;
  if (recorded !== undefined) {
    if (recorded.value === 'arm64') fromRecord = lambda.Architecture.ARM_64;
    else if (recorded.value === 'x86_64') fromRecord = lambda.Architecture.X86_64;
    else err(`${recorded.source} says '${recorded.value}'; expected arm64 or x86_64 (rebuild with \`make lambdas\` or set architecture)`);
  }
  if (prop !== undefined && fromRecord !== undefined && prop.name !== fromRecord.name) {
    err(`architecture is ${prop.name} but the Lambda code was built for ${fromRecord.name} (${recorded!.source}): `
      + 'the functions would fail to start; drop the architecture prop or use code built for it');
  }
  return prop ?? fromRecord ?? lambda.Architecture.ARM_64;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}
